// Starts the real server and the real headless agent as separate processes, as a lab
// would run them, for whole-system tests.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const AGENT_BIN = path.join(root, 'bin/scopelink-agent.js');
export const SERVER_BIN = path.join(root, 'bin/scopelink-server.js');
export const SAMPLES = path.resolve(root, '../shared/samples');

const run = promisify(execFile);

export interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

export function startProcess(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exited };
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `scopelink-${prefix}-`));
}

export const removeDir = (dir: string) => rm(dir, { recursive: true, force: true });

export interface TestServer extends Running {
  url: string;
  caFile: string;
  dataDir: string;
  framesFile: string;
}

/** `scopelink-server run` on a free loopback port; resolves once it listens. */
export async function startServer(dataDir: string, listen = '127.0.0.1:0'): Promise<TestServer> {
  const framesFile = path.join(dataDir, 'frames.jsonl');
  const proc = startProcess(SERVER_BIN, [
    'run',
    '--data-dir',
    dataDir,
    '--listen',
    listen,
    '--record-frames',
    framesFile,
  ]);
  const ready = await new Promise<{ url: string; caFile: string }>((resolve, reject) => {
    let out = '';
    proc.child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve(JSON.parse(line));
    });
    proc.exited.then((code) => reject(new Error(`server exited ${code}: ${proc.stderr()}`)));
  });
  return { ...proc, ...ready, dataDir, framesFile };
}

export async function addDevice(dataDir: string, id: string): Promise<string> {
  const { stdout } = await run(process.execPath, [
    SERVER_BIN,
    'device',
    'add',
    '--data-dir',
    dataDir,
    '--id',
    id,
  ]);
  return stdout.trim();
}

export interface StoredItem {
  device: string;
  stream: string;
  seq: number;
  ts: string;
  source: string;
  name: string;
  value: unknown;
  unit?: string | null;
  kind: string;
  attrs?: Record<string, unknown> | null;
}

export async function serverItems(dataDir: string): Promise<StoredItem[]> {
  const { stdout } = await run(process.execPath, [SERVER_BIN, 'items', '--data-dir', dataDir], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as StoredItem);
}

export async function writeAgentConfig(
  dir: string,
  config: Record<string, unknown>,
): Promise<string> {
  const file = path.join(dir, 'agent.json');
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the status is JSON read from another process
export async function agentStatus(configFile: string): Promise<Record<string, any>> {
  const { stdout } = await run(process.execPath, [AGENT_BIN, 'status', '--config', configFile]);
  return JSON.parse(stdout);
}

export async function stop(
  proc: Running,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | null> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.child.exitCode;
  proc.child.kill(signal);
  return proc.exited;
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
