// The real headless agent as its own process, and a read-only look into its outbox: the
// bench measures what a lab would run, not the engine in the bench's own event loop.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sqlite3 from 'sqlite3';
import { ensureAgentBuilt } from '../../scripts/build-agent.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const AGENT_BIN = path.join(ROOT, 'bin/scopelink-agent.js');
// It runs the agent's bundle: built from the current sources here, before anything is timed.
ensureAgentBuilt();

/** Nothing listens here: the agent keeps retrying, which costs ingest nothing. */
const UNUSED_SERVER = 'wss://127.0.0.1:9/agent/v1';
const STDERR_KEEP = 16 * 1024;

const running = new Set<ChildProcess>();

/** For exit paths that cannot wait: no agent may outlive the bench. */
export function killAgents(): void {
  for (const child of running) child.kill('SIGKILL');
}

export interface AgentConfigInput {
  dir: string;
  kind: 'em' | 'lm';
  /** Source id to folder; every other source listed here is turned off. */
  sources: Record<string, string | null>;
}

export async function writeAgentConfig({ dir, kind, sources }: AgentConfigInput): Promise<string> {
  const file = path.join(dir, 'agent.json');
  const config = {
    serverUrl: UNUSED_SERVER,
    dataDir: path.join(dir, 'data'),
    device: { id: `BENCH-${kind.toUpperCase()}`, kind },
    sources: Object.fromEntries(
      Object.entries(sources).map(([id, folder]) => [
        id,
        folder === null ? { enabled: false } : { folder },
      ]),
    ),
    // A first start would otherwise read only the last 64 MiB of a large file back.
    collect: { pollIntervalSec: 0.2, backfill: { maxAgeDays: 0, maxBytes: 0 } },
    // The quota has no "no limit"; without a server nothing drains, and the default quota
    // (2 million items) would drop part of a large ingest.
    outbox: { maxItems: 1_000_000_000, maxMB: 1_000_000 },
  };
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

export interface AgentProcess {
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether the process has ended (checked while polling, to fail fast). */
  hasExited(): boolean;
  stderrTail(): string;
  /** SIGTERM, then the exit code; SIGKILL if the agent overruns its own 5 s stop budget. */
  stop(): Promise<number | null>;
}

export interface AgentLaunch {
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

export function startAgent(configFile: string, launch: AgentLaunch = {}): AgentProcess {
  const args = [...(launch.nodeArgs ?? []), AGENT_BIN, 'run', '--config', configFile];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...launch.env, SCOPELINK_DEVICE_TOKEN: 'x' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-STDERR_KEEP);
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        done = true;
        running.delete(child);
        resolve({ code, signal });
      });
    },
  );
  if (child.pid === undefined) throw new Error('cannot start the agent');
  return {
    pid: child.pid,
    exited,
    hasExited: () => done,
    stderrTail: () => stderr,
    async stop() {
      if (done) return (await exited).code;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const { code } = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export interface ProcessFigures {
  /** Peak resident set (VmHWM), bytes. */
  peakRss: number;
  /** User plus system CPU time, seconds. */
  cpuSec: number;
}

/** Linux /proc figures of a live process; null elsewhere. */
export function processFigures(pid: number): ProcessFigures | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    // USER_HZ is 100 on every Linux the bench runs on.
    return { peakRss: Number(hwm?.[1] ?? NaN) * 1024, cpuSec: ticks / 100 };
  } catch {
    return null;
  }
}

/** A read-only connection: the agent's WAL lets it read while the agent writes. */
export class OutboxReader {
  private constructor(private readonly db: sqlite3.Database) {}

  static open(file: string): Promise<OutboxReader> {
    return new Promise((resolve, reject) => {
      const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) =>
        err ? reject(err) : resolve(new OutboxReader(db)),
      );
    });
  }

  all<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return new Promise((resolve, reject) => {
      this.db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[])));
    });
  }

  async get<T>(sql: string, params: unknown[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.db.close((err) => (err ? reject(err) : resolve())),
    );
  }
}
