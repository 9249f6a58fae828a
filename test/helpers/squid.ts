// A real Squid forward proxy for tests of the agent's CONNECT tunnel: one instance per call,
// each with its own config, port, pid file, logs and password file in a temp dir, run in the
// foreground as a child process so a test can stop it, start it again and read what it logged.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const SQUID_BIN = '/usr/sbin/squid';
export const SQUID_HELPERS = '/usr/lib/squid';
/** Squid drops root privileges to this user (`cache_effective_user`). */
export const SQUID_USER = 'proxy';

export type SquidScheme = 'none' | 'basic' | 'digest' | 'ntlm';

export interface SquidUser {
  name: string;
  password: string;
}

export interface SquidOptions {
  scheme: SquidScheme;
  /** Accounts for basic and digest; ntlm_fake_auth accepts any user and ignores them. */
  users?: SquidUser[];
  /** 127.0.0.1 port to listen on; a free one when omitted. */
  port?: number;
  /** Destination ports CONNECT may reach; all ports when omitted. */
  connectPorts?: number[];
  /** Realm of the Basic and Digest challenges. */
  realm?: string;
}

export interface Squid {
  url: string;
  port: number;
  dir: string;
  /** The config file exactly as squid read it, for failure messages and reports. */
  config: string;
  stop(): Promise<void>;
  /** Stops (if running) and starts again with the same config on the same port. */
  restart(): Promise<void>;
  accessLog(): Promise<string>;
  cacheLog(): Promise<string>;
  /** Stops squid and removes its temp dir; safe to call more than once. */
  dispose(): Promise<void>;
}

const HELPER = {
  basic: path.join(SQUID_HELPERS, 'basic_ncsa_auth'),
  digest: path.join(SQUID_HELPERS, 'digest_file_auth'),
  ntlm: path.join(SQUID_HELPERS, 'ntlm_fake_auth'),
} as const;

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

/**
 * Why squid tests cannot run here, or null when they can. Squid must start as root to switch to
 * the `proxy` user the way it does in production; as another user it would run with that user's
 * rights, and the helpers' file permissions would no longer match a real installation.
 */
export function squidSkipReason(): string | null {
  if (!existsSync(SQUID_BIN)) return `${SQUID_BIN} is missing (Debian package "squid")`;
  const missing = Object.values(HELPER).filter((h) => !existsSync(h));
  if (missing.length > 0) return `squid auth helpers missing: ${missing.join(', ')}`;
  if (process.getuid?.() !== 0) return 'squid tests need root (squid drops to user "proxy")';
  if (process.platform !== 'linux') return 'squid tests run on Linux only';
  return null;
}

// Any squid still running when the test process exits (a crashed worker, a timed-out hook) is
// killed here, so no proxy outlives the run and holds its port for the next one.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Attempts at a free port: another process may take the one found before squid binds it. */
const PORT_ATTEMPTS = 3;

export async function startSquid(options: SquidOptions): Promise<Squid> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSquidOnce(options);
    } catch (err) {
      const taken = /Address already in use/.test((err as Error).message);
      if (!taken || options.port !== undefined || attempt === PORT_ATTEMPTS) throw err;
    }
  }
}

async function startSquidOnce(options: SquidOptions): Promise<Squid> {
  const reason = squidSkipReason();
  if (reason) throw new Error(`cannot start squid: ${reason}`);
  const { uid, gid } = await systemUser(SQUID_USER);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'scopelink-squid-'));
  try {
    const port = options.port ?? (await freePort());
    const logs = path.join(dir, 'logs');
    await mkdir(logs);
    const authLines = await writeAuthFiles(dir, options);
    const config = squidConfig({ dir, port, options, authLines });
    const configFile = path.join(dir, 'squid.conf');
    await writeFile(configFile, config);
    // Squid writes its pid file and logs, and its helpers read the password files, as `proxy`.
    for (const entry of [dir, logs, configFile]) await chown(entry, uid, gid);
    await chmod(dir, 0o750);

    let child: ChildProcess | null = null;
    let exited: Promise<void> = Promise.resolve();
    let stderr = '';

    const start = async () => {
      const logOffset = await sizeOf(path.join(logs, 'cache.log'));
      stderr = '';
      // -N: no daemon and no SMP kids, so the child is squid itself and SIGTERM reaches it.
      // -n: squid names its shared memory segments after the service (`squid-cf__metadata`):
      // instances started side by side, one per auth scheme, must not share the name.
      const proc = spawn(SQUID_BIN, ['-N', '-n', `scopelink${port}`, '-f', configFile], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child = proc;
      running.add(proc);
      exited = new Promise<void>((resolve) => {
        proc.once('exit', () => {
          running.delete(proc);
          resolve();
        });
        // A spawn failure emits 'error' and possibly no 'exit'.
        proc.once('error', () => {
          running.delete(proc);
          resolve();
        });
      });
      try {
        await waitReady(proc, port, path.join(logs, 'cache.log'), logOffset);
      } catch (err) {
        await stop();
        const log = await readFile(path.join(logs, 'cache.log')).catch(() => Buffer.alloc(0));
        throw new Error(
          `squid (${options.scheme}) did not start on 127.0.0.1:${port}: ${(err as Error).message}\n` +
            `stderr: ${stderr.slice(-2000)}\ncache.log: ${log.subarray(logOffset).toString('utf8').slice(-4000)}`,
        );
      }
    };

    const stop = async () => {
      const proc = child;
      if (!proc) return;
      child = null;
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        // With shutdown_lifetime 0 a clean stop takes about two seconds; a hung one is killed.
        const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
    };

    await start();
    let disposed = false;
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      dir,
      config,
      stop,
      restart: async () => {
        await stop();
        await start();
      },
      accessLog: () => readFile(path.join(logs, 'access.log'), 'utf8').catch(() => ''),
      cacheLog: () => readFile(path.join(logs, 'cache.log'), 'utf8').catch(() => ''),
      dispose: async () => {
        if (disposed) return;
        disposed = true;
        await stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function squidConfig(args: {
  dir: string;
  port: number;
  options: SquidOptions;
  authLines: string[];
}): string {
  const { dir, port, options, authLines } = args;
  const ports = options.connectPorts?.join(' ') ?? '1-65535';
  const access =
    options.scheme === 'none'
      ? ['http_access allow all']
      : ['acl authenticated proxy_auth REQUIRED', 'http_access allow authenticated'];
  return [
    `# ScopeLink test proxy (${options.scheme}), written by test/helpers/squid.ts`,
    `http_port 127.0.0.1:${port}`,
    'visible_hostname test',
    `cache_effective_user ${SQUID_USER}`,
    `pid_filename ${dir}/squid.pid`,
    `coredump_dir ${dir}`,
    // Squid's native format plus the client's port: the lines of one TCP connection can then be
    // told apart, e.g. the three NTLM messages that must share one connection.
    'logformat scopelink %ts.%03tu %6tr %>a:%>p %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt',
    `access_log stdio:${dir}/logs/access.log scopelink`,
    `cache_log ${dir}/logs/cache.log`,
    'cache_store_log none',
    // No cache_dir: nothing on disk. `cache deny all` keeps responses out of memory too.
    'cache deny all',
    'cache_mem 8 MB',
    'shutdown_lifetime 0 seconds',
    // Nothing but 127.0.0.1: no ICMP pinger, no cache digests, and DNS asked only of loopback.
    'pinger_enable off',
    'digest_generation off',
    'dns_nameservers 127.0.0.1',
    ...authLines,
    `acl SSL_ports port ${ports}`,
    'acl CONNECT method CONNECT',
    'acl loopback_dst dst 127.0.0.1',
    // Policy before authentication, as in Debian's default squid.conf: a forbidden destination
    // gets 403 whoever asks.
    'http_access deny !CONNECT',
    'http_access deny !SSL_ports',
    'http_access deny !loopback_dst',
    ...access,
    'http_access deny all',
    '',
  ].join('\n');
}

/** Writes the scheme's password file (owned by `proxy`) and returns its `auth_param` lines. */
async function writeAuthFiles(dir: string, options: SquidOptions): Promise<string[]> {
  const realm = options.realm ?? 'ScopeLink test proxy';
  const users = options.users ?? [];
  for (const user of users) {
    // Both file formats are `name:...` lines; a newline would start a new entry.
    if (/[:\r\n]/.test(user.name) || /[\r\n]/.test(user.password)) {
      throw new Error(
        `user ${JSON.stringify(user.name)} cannot be written to a squid password file`,
      );
    }
  }
  // Few helper processes: each test talks to one proxy at a time.
  const children = 'children 2 startup=1 idle=1';
  switch (options.scheme) {
    case 'none':
      return [];
    case 'basic': {
      const file = path.join(dir, 'passwd');
      const lines = await Promise.all(
        users.map(async (u) => `${u.name}:${await apr1(u.password)}`),
      );
      await writeOwnedFile(file, lines);
      return [
        `auth_param basic program ${HELPER.basic} ${file}`,
        `auth_param basic ${children}`,
        `auth_param basic realm ${realm}`,
      ];
    }
    case 'digest': {
      // digest_file_auth without -c reads plain `name:password`, and splits at every colon.
      for (const user of users) {
        if (user.password.includes(':'))
          throw new Error(`digest_file_auth cannot hold a password with ":" (${user.name})`);
      }
      const file = path.join(dir, 'digest-passwd');
      await writeOwnedFile(
        file,
        users.map((u) => `${u.name}:${u.password}`),
      );
      return [
        `auth_param digest program ${HELPER.digest} ${file}`,
        `auth_param digest ${children}`,
        `auth_param digest realm ${realm}`,
      ];
    }
    case 'ntlm':
      // ntlm_fake_auth accepts any credentials and reports the user as DOMAIN\user.
      return [
        `auth_param ntlm program ${HELPER.ntlm}`,
        `auth_param ntlm ${children}`,
        'auth_param ntlm keep_alive on',
      ];
  }
}

async function writeOwnedFile(file: string, lines: string[]): Promise<void> {
  const { uid, gid } = await systemUser(SQUID_USER);
  await writeFile(file, lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  await chown(file, uid, gid);
}

/**
 * An Apache MD5-crypt hash, one of the formats basic_ncsa_auth checks (with DES, MD5-crypt,
 * SHA-crypt). DES would cut passwords at 8 characters; Node's crypto has no crypt(3) at all.
 */
function apr1(password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // The password on stdin, as UTF-8 bytes: the same bytes the agent sends in its Basic header.
    const child = execFile('openssl', ['passwd', '-apr1', '-stdin'], (err, stdout) =>
      err ? reject(err) : resolve(stdout.trim()),
    );
    child.stdin!.end(`${password}\n`, 'utf8');
  });
}

async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const fields = passwd
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => f[0] === name);
  if (!fields) throw new Error(`no user "${name}" in /etc/passwd`);
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

async function sizeOf(file: string): Promise<number> {
  return stat(file).then(
    (s) => s.size,
    () => 0,
  );
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Ready means squid logged that it accepts connections on our port (so a stranger that grabbed
 * the port in between is not mistaken for it) and a TCP connection to it succeeds.
 */
async function waitReady(
  proc: ChildProcess,
  port: number,
  cacheLog: string,
  offset: number,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const accepting = `local=127.0.0.1:${port} `;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`squid exited (${proc.exitCode ?? proc.signalCode})`);
    }
    // The offset is in bytes: earlier runs of this instance logged before it.
    const log = (await readFile(cacheLog).catch(() => Buffer.alloc(0)))
      .subarray(offset)
      .toString('utf8');
    const listening = log
      .split('\n')
      .some((l) => l.includes('Accepting HTTP Socket connections') && l.includes(accepting));
    if (listening && (await accepts(port))) return;
    if (Date.now() > deadline) throw new Error(`not ready within ${READY_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
