// The whole agent through real Squid proxies, one per authentication scheme, to the real server
// over wss: what a lab behind a company proxy runs (protocol.md section 1). The agent and the
// server are separate processes; squid relays the CONNECT tunnel and TLS runs end to end
// inside it. Every log line carries a unique number N, so "delivered, nothing lost, nothing
// twice" is exactly: the server holds each of 1..N once.
import { execFile } from 'node:child_process';
import { appendFile, mkdir, open, readFile, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  AGENT_BIN,
  addDevice,
  agentStatus,
  removeDir,
  serverItems,
  startProcess,
  startServer,
  stop,
  tempDir,
  waitFor,
  writeAgentConfig,
  type Running,
  type StoredItem,
  type TestServer,
} from '../helpers/processes.ts';
import { squidSkipReason, startSquid, type Squid, type SquidOptions } from '../helpers/squid.ts';
import { operatingHoursLine } from '../helpers/em-lines.ts';

const reason = squidSkipReason();
const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ALICE = { name: 'alice', password: 'correct horse 42' };
const ITEM = 'system.operating_hours';
/** Lines per delivery test: a few frames' worth, quick to check. */
const LINES = 20;
/** The agent's first connection: its start plus squid's auth helpers warming up. */
const CONNECT_MS = 20_000;
/** From the last line written to the item stored, with room for one reconnect backoff. */
const DELIVER_MS = 20_000;

const line = operatingHoursLine;
const lines = (from: number, to: number) => {
  let text = '';
  for (let n = from; n <= to; n++) text += line(n);
  return text;
};

type SquidName = 'none' | 'basic' | 'digest' | 'ntlm' | 'stopped' | 'restarted';

interface ProxySettings {
  auth: 'none' | 'basic' | 'digest' | 'ntlm' | 'auto';
  username?: string;
  domain?: string;
}

interface Agent {
  device: string;
  config: string;
  log: string;
  proc: Running;
}

/** Shortens long lists of numbers to ranges, so a failure message stays readable. */
function ranges(values: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < values.length;) {
    let j = i;
    while (j + 1 < values.length && values[j + 1] === values[j]! + 1) j++;
    out.push(i === j ? `${values[i]}` : `${values[i]}-${values[j]}`);
    i = j + 1;
  }
  return out.join(',');
}

/** What is wrong with `items` against "each of 1..n once"; all empty when nothing is. */
function tally(items: StoredItem[], n: number) {
  const seen = new Map<number, number>();
  const unexpected: string[] = [];
  for (const item of items) {
    const v = item.value;
    if (item.name !== ITEM || typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > n) {
      unexpected.push(`${item.name}=${JSON.stringify(v)}`);
    } else {
      seen.set(v, (seen.get(v) ?? 0) + 1);
    }
  }
  const missing: number[] = [];
  const duplicated: number[] = [];
  for (let v = 1; v <= n; v++) {
    const times = seen.get(v) ?? 0;
    if (times === 0) missing.push(v);
    for (let extra = 1; extra < times; extra++) duplicated.push(v);
  }
  return {
    missing: ranges(missing),
    duplicated: ranges(duplicated),
    unexpected: unexpected.slice(0, 20),
  };
}

/**
 * The fields of a squid access log line (helpers/squid.ts logformat: time, elapsed,
 * client:port, result/status, bytes, method, URL, user, ...).
 */
const fields = (l: string) => l.split(/\s+/);

/** The instrument software: batches of 1-3 lines every 5-15 ms, one write per batch. */
class Writer {
  written = 0;
  private writing = true;
  private readonly done: Promise<void>;

  constructor(private readonly handle: FileHandle) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    while (this.writing) {
      const from = this.written + 1;
      this.written += 1 + Math.floor(Math.random() * 3);
      // One write per batch: the agent may catch a batch half-written, never a line torn
      // across two writes of ours.
      await this.handle.write(lines(from, this.written));
      await sleep(5 + Math.random() * 10);
    }
  }

  async stop(): Promise<number> {
    this.writing = false;
    await this.done;
    return this.written;
  }
}

describe.skipIf(reason !== null)(
  `the agent through squid to the server${reason ? ` (skipped: ${reason})` : ''}`,
  () => {
    /** Everything the suite started, undone in afterAll even when beforeAll failed half-way. */
    const suiteDisposers: (() => Promise<unknown>)[] = [];
    /** What one test started (agents, file handles), undone after it whatever its outcome. */
    const cleanups: (() => Promise<unknown>)[] = [];
    let root = '';
    let server: TestServer;
    let serverPort = 0;
    const squids = {} as Record<SquidName, Squid>;

    beforeAll(async () => {
      root = await tempDir('proxy-agent');
      suiteDisposers.push(() => removeDir(root));
      server = await startServer(path.join(root, 'server'));
      suiteDisposers.push(() => stop(server));
      serverPort = Number(new URL(server.url).port);

      // Every proxy lets CONNECT reach the server's port and nothing else, as a lab's proxy
      // would be configured for ScopeLink.
      const only = [serverPort];
      const configs: Record<SquidName, SquidOptions> = {
        none: { scheme: 'none', connectPorts: only },
        basic: { scheme: 'basic', users: [ALICE], connectPorts: only },
        digest: { scheme: 'digest', users: [ALICE], connectPorts: only },
        ntlm: { scheme: 'ntlm', connectPorts: only },
        // Stopped by the tests that need a proxy gone; the others keep theirs.
        stopped: { scheme: 'none', connectPorts: only },
        restarted: { scheme: 'basic', users: [ALICE], connectPorts: only },
      };
      // Started together to keep the file fast; every one that started is disposed of even
      // when another failed to start.
      const started = await Promise.allSettled(
        Object.entries(configs).map(async ([name, options]) => {
          const squid = await startSquid(options);
          suiteDisposers.push(() => squid.dispose());
          squids[name as SquidName] = squid;
        }),
      );
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    });

    afterAll(async () => {
      // Processes first, the temp dir (which holds the server's data) last; each on its own so
      // one failing leaves nothing running. Squids stop in parallel (about two seconds each).
      const removeRoot = suiteDisposers.shift();
      await Promise.allSettled(suiteDisposers.splice(0).map((dispose) => dispose()));
      await removeRoot?.();
    });

    afterEach(async () => {
      while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
    });

    /** SIGTERM, and SIGKILL if the agent has not exited within 8 s (a hung stop). */
    async function stopAgent(proc: Running): Promise<number | null> {
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), 8_000);
      try {
        return await stop(proc);
      } finally {
        clearTimeout(timer);
      }
    }

    /**
     * A device at the server, its config with `proxy`, an empty EM Server.log, and the agent
     * running with the proxy password in its environment (never in the config file).
     */
    async function startAgent(
      device: string,
      squid: Squid,
      proxy: ProxySettings,
      password?: string,
    ): Promise<Agent> {
      const token = await addDevice(server.dataDir, device);
      const dir = path.join(root, device);
      const logs = path.join(dir, 'SmartSEM', 'Log');
      await mkdir(logs, { recursive: true });
      const log = path.join(logs, 'EM Server.log');
      await writeFile(log, '');
      const config = await writeAgentConfig(dir, {
        serverUrl: server.url,
        caFile: server.caFile,
        dataDir: 'agent-data',
        device: { id: device, kind: 'em', model: 'GeminiSEM 560' },
        sources: { 'em-server': { folder: logs }, 'smartsem-logs': { enabled: false } },
        collect: { pollIntervalSec: 0.2 },
        proxy: { url: squid.url, ...proxy },
      });
      const proc = startProcess(AGENT_BIN, ['run', '--config', config], {
        SCOPELINK_DEVICE_TOKEN: token,
        // Unset, not empty, where the scheme needs none: the runner's own must not leak in.
        SCOPELINK_PROXY_PASSWORD: password,
      });
      cleanups.push(() => stopAgent(proc));
      onTestFailed(async () => {
        console.error(`--- agent ${device} stderr ---\n${proc.stderr().slice(-6000)}`);
        console.error(
          `--- squid ${squid.url} access.log ---\n${(await squid.accessLog()).slice(-3000)}`,
        );
      });
      return { device, config, log, proc };
    }

    const itemsOf = async (device: string) =>
      (await serverItems(server.dataDir)).filter((i) => i.device === device);

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the status is JSON from another process
    type Status = Record<string, any>;

    /** The agent's status once `ok` holds for it; fails naming the last status seen. */
    async function statusWhen(
      agent: Agent,
      ok: (s: Status) => boolean,
      timeoutMs: number,
      what: string,
    ): Promise<Status> {
      let last: Status | null = null;
      return waitFor(
        async () => {
          last = await agentStatus(agent.config);
          return ok(last) ? last : undefined;
        },
        timeoutMs,
        what,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last status: ${JSON.stringify(last?.connection)}`);
      });
    }

    const connected = (agent: Agent) =>
      statusWhen(agent, (s) => s.connection.state === 'connected', CONNECT_MS, 'the connection');

    /**
     * Waits until the server holds `n` items of the device and the agent's outbox is empty,
     * then checks that each of 1..n is there exactly once. Returns the items and the agent's
     * status at that moment (still connected).
     */
    async function expectDelivered(
      agent: Agent,
      n: number,
    ): Promise<{ items: StoredItem[]; status: Status }> {
      // `>=`, not `===`: with a duplicate the count would never match and the wait would only
      // time out; the comparison below says what is wrong.
      await waitFor(
        async () => ((await itemsOf(agent.device)).length >= n ? true : undefined),
        DELIVER_MS,
        `${n} items of ${agent.device} at the server`,
      ).catch(async (err: Error) => {
        // Why not: the agent's own account (a proxy error, a connection never made).
        const { connection, outbox } = await agentStatus(agent.config);
        throw new Error(`${err.message}; agent: ${JSON.stringify({ connection, outbox })}`);
      });
      // Everything acknowledged, so nothing is left to resend: the items read after this are
      // final, and a duplicate from a resend would already be among them.
      const status = await statusWhen(
        agent,
        (s) => s.outbox.pending === 0,
        10_000,
        'an empty outbox',
      );
      const items = await itemsOf(agent.device);
      expect(tally(items, n)).toEqual({ missing: '', duplicated: '', unexpected: [] });
      expect(items).toHaveLength(n);
      return { items, status };
    }

    /** Squid logs a CONNECT when its tunnel closes: the finished tunnels to the server since `offset`. */
    async function tunnelsLogged(squid: Squid, offset: number): Promise<string[]> {
      return (await squid.accessLog())
        .slice(offset)
        .split('\n')
        .filter((l) => {
          const f = fields(l);
          return (
            f[3] === 'TCP_TUNNEL/200' && f[5] === 'CONNECT' && f[6] === `127.0.0.1:${serverPort}`
          );
        });
    }

    describe('delivers every item through each scheme', () => {
      const cases: {
        title: string;
        squid: SquidName;
        proxy: ProxySettings;
        password?: string;
        /** The scheme the agent reports in `connection.via`. */
        scheme: string;
        /** The user as squid's access log shows it. */
        user: string;
      }[] = [
        {
          title: 'no authentication',
          squid: 'none',
          proxy: { auth: 'none' },
          scheme: 'none',
          user: '-',
        },
        {
          title: 'Basic (basic_ncsa_auth)',
          squid: 'basic',
          proxy: { auth: 'basic', username: ALICE.name },
          password: ALICE.password,
          scheme: 'basic',
          user: 'alice',
        },
        {
          title: 'Digest (digest_file_auth)',
          squid: 'digest',
          proxy: { auth: 'digest', username: ALICE.name },
          password: ALICE.password,
          scheme: 'digest',
          user: 'alice',
        },
        {
          // ntlm_fake_auth accepts any password; the domain and user still have to arrive.
          title: 'NTLM (ntlm_fake_auth)',
          squid: 'ntlm',
          proxy: { auth: 'ntlm', username: 'svc-scopelink', domain: 'LAB' },
          password: 'any',
          scheme: 'ntlm',
          // Squid escapes the backslash of DOMAIN\user in its log.
          user: 'LAB\\\\svc-scopelink',
        },
        {
          title: 'auto, against the Digest proxy',
          squid: 'digest',
          proxy: { auth: 'auto', username: ALICE.name },
          password: ALICE.password,
          scheme: 'digest',
          user: 'alice',
        },
      ];

      it.each(cases.map((c, i) => ({ ...c, device: `EM-PX-${i + 1}` })))(
        '$title',
        async ({ squid: name, proxy, password, scheme, user, device }) => {
          const squid = squids[name];
          // Squid's log is shared with other tests of the same proxy: only what comes after.
          const offset = (await squid.accessLog()).length;
          const agent = await startAgent(device, squid, proxy, password);
          // Written in three appends while the agent starts and connects: whatever it has not
          // sent yet waits in its outbox until the tunnel is up.
          await appendFile(agent.log, lines(1, 7));
          await appendFile(agent.log, lines(8, 15));
          await appendFile(agent.log, lines(16, LINES));
          const { items, status } = await expectDelivered(agent, LINES);
          expect(new Set(items.map((i) => `${i.stream}/${i.seq}`)).size).toBe(LINES);
          expect(status.connection).toMatchObject({
            state: 'connected',
            via: `proxy 127.0.0.1:${squid.port} (${scheme})`,
          });

          // A clean stop closes the tunnel, and only then does squid log the CONNECT.
          expect(await stopAgent(agent.proc)).toBe(0);
          const tunnels = await waitFor(
            async () => {
              const found = await tunnelsLogged(squid, offset);
              return found.length > 0 ? found : undefined;
            },
            10_000,
            `squid's log of the CONNECT to 127.0.0.1:${serverPort}`,
          );
          // One connection for the whole test, authenticated as the configured user.
          expect(tunnels.map((l) => fields(l)[7])).toEqual([user]);
        },
      );
    });

    describe('a wrong proxy password', () => {
      it.each([
        { scheme: 'basic' as const, device: 'EM-PX-WRONG-BASIC' },
        { scheme: 'digest' as const, device: 'EM-PX-WRONG-DIGEST' },
      ])(
        '$scheme: offline with proxy_auth_failed, and nothing reaches the server',
        async ({ scheme, device }) => {
          const agent = await startAgent(
            device,
            squids[scheme],
            { auth: scheme, username: ALICE.name },
            'not the password',
          );
          await appendFile(agent.log, lines(1, 5));
          // The items were collected and are held back, so "nothing at the server" below is
          // the proxy's refusal and not a collection that never happened.
          const status = await statusWhen(
            agent,
            (s) =>
              s.connection.state === 'offline' &&
              s.connection.lastError?.code === 'proxy_auth_failed' &&
              s.outbox.pending === 5,
            CONNECT_MS,
            'offline with proxy_auth_failed and 5 items pending',
          );
          expect(status.connection.lastError.message).toBe(
            `the proxy rejected the ${scheme} credentials of user "alice"`,
          );
          expect(status.outbox.sent).toBe(0);
          expect(await itemsOf(device)).toEqual([]);
          // Not even a hello: the server recorded no frame naming the device.
          const frames = await readFile(server.framesFile, 'utf8').catch(() => '');
          expect(frames).not.toContain(`"${device}"`);
        },
      );
    });

    it('a stopped proxy: offline with proxy_unreachable, and nothing reaches the server', async () => {
      const squid = squids.stopped;
      await squid.stop();
      const agent = await startAgent('EM-PX-STOPPED', squid, { auth: 'none' });
      await appendFile(agent.log, lines(1, 3));
      const status = await statusWhen(
        agent,
        (s) =>
          s.connection.state === 'offline' &&
          s.connection.lastError?.code === 'proxy_unreachable' &&
          s.outbox.pending === 3,
        CONNECT_MS,
        'offline with proxy_unreachable and 3 items pending',
      );
      expect(status.connection.lastError.message).toBe(
        `cannot reach the proxy 127.0.0.1:${squid.port}: ECONNREFUSED`,
      );
      expect(await itemsOf(agent.device)).toEqual([]);
    });

    it('a proxy restarted mid-session: the agent reconnects through it and loses nothing', async () => {
      const squid = squids.restarted;
      const agent = await startAgent(
        'EM-PX-RESTART',
        squid,
        { auth: 'basic', username: ALICE.name },
        ALICE.password,
      );
      const first = await connected(agent);

      const handle = await open(agent.log, 'a');
      cleanups.push(() => handle.close());
      const writer = new Writer(handle);
      cleanups.push(() => writer.stop());
      // Delivery under way before the proxy goes, so the restart hits a busy session.
      await waitFor(
        async () => ((await itemsOf(agent.device)).length >= 20 ? true : undefined),
        DELIVER_MS,
        'the first items at the server',
      );

      await squid.stop();
      // The pause: until the agent has noticed that the proxy is gone, not just the link.
      const down = await statusWhen(
        agent,
        (s) =>
          s.connection.state === 'offline' && s.connection.lastError?.code === 'proxy_unreachable',
        15_000,
        'offline with proxy_unreachable while squid is stopped',
      );
      expect(down.connection.session).toBeNull();
      await squid.restart();
      // The new squid appends to the same log; the cut tunnel was logged by the old one.
      const offset = (await squid.accessLog()).length;

      const again = await statusWhen(
        agent,
        (s) =>
          s.connection.state === 'connected' && s.connection.session !== first.connection.session,
        CONNECT_MS,
        'a new session through the restarted proxy',
      );
      expect(again.connection.via).toBe(`proxy 127.0.0.1:${squid.port} (basic)`);
      // Some lines after the reconnect too, so the new session carries live ones as well.
      await sleep(500);
      const written = await writer.stop();
      console.log(`proxy restart: ${written} lines written across the restart`);
      await expectDelivered(agent, written);

      // The new session's tunnel, authenticated again after the restart (squid logs it when the
      // agent's clean stop closes it).
      expect(await stopAgent(agent.proc)).toBe(0);
      const tunnels = await waitFor(
        async () => {
          const found = await tunnelsLogged(squid, offset);
          return found.length > 0 ? found : undefined;
        },
        10_000,
        `squid's log of the CONNECT to 127.0.0.1:${serverPort} after the restart`,
      );
      expect(tunnels.map((l) => fields(l)[7])).toEqual(['alice']);
    });

    describe('scopelink-agent diagnose through the Basic proxy', () => {
      async function diagnose(device: string, password: string) {
        const token = await addDevice(server.dataDir, device);
        const dir = path.join(root, device);
        await mkdir(dir, { recursive: true });
        const config = await writeAgentConfig(dir, {
          serverUrl: server.url,
          caFile: server.caFile,
          dataDir: 'agent-data',
          device: { id: device, kind: 'em', model: 'GeminiSEM 560' },
          proxy: { url: squids.basic.url, auth: 'basic', username: ALICE.name },
        });
        return execFileP(process.execPath, [AGENT_BIN, 'diagnose', '--config', config], {
          env: {
            ...process.env,
            SCOPELINK_DEVICE_TOKEN: token,
            SCOPELINK_PROXY_PASSWORD: password,
          },
          timeout: 30_000,
        }).then(
          (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
          (e: { code: number; stdout: string; stderr: string }) => ({
            code: e.code,
            stdout: e.stdout,
            stderr: e.stderr,
          }),
        );
      }

      /** `[mark, step]` of each step line (`ok  ` or `FAIL`, then the step name). */
      const stepsOf = (out: string) =>
        out
          .split('\n')
          .map((l) => /^(ok {2}|FAIL) (.+?) +\d+ ms {2}/.exec(l))
          .filter((m) => m !== null)
          .map((m) => [m[1]!.trim(), m[2]!]);

      it('succeeds at every step with the right password (exit 0)', async () => {
        const result = await diagnose('EM-PX-DIAG-OK', ALICE.password);
        console.log(`diagnose through the Basic proxy, right password:\n${result.stdout}`);
        expect(result.code, result.stderr).toBe(0);
        expect(stepsOf(result.stdout)).toEqual([
          ['ok', 'name resolution'],
          ['ok', 'TCP to proxy'],
          ['ok', 'proxy authentication'],
          ['ok', 'TLS'],
          ['ok', 'WebSocket upgrade'],
          ['ok', 'hello/welcome'],
        ]);
        expect(result.stdout).toContain(
          `used: basic as "alice"; CONNECT 127.0.0.1:${serverPort} open`,
        );
        expect(result.stdout).not.toContain('no authentication asked');
        expect(result.stdout).toContain('Every step succeeded: the agent can reach the server.');
      });

      it('fails at "proxy authentication" with proxy_auth_failed for a wrong password (exit 1)', async () => {
        const result = await diagnose('EM-PX-DIAG-BAD', 'not the password');
        console.log(`diagnose through the Basic proxy, wrong password:\n${result.stdout}`);
        expect(result.code, result.stderr).toBe(1);
        expect(stepsOf(result.stdout)).toEqual([
          ['ok', 'name resolution'],
          ['ok', 'TCP to proxy'],
          ['FAIL', 'proxy authentication'],
        ]);
        expect(result.stdout).toMatch(/^ +code proxy_auth_failed: check the proxy user name/m);
        expect(result.stdout).toContain('the proxy rejected the basic credentials of user "alice"');
        expect(result.stdout).toContain('The connection fails at "proxy authentication".');
      });
    });
  },
);
