// Drain bench: an agent whose server was down has a million items queued; the server comes
// up. How fast does the real agent empty its outbox into the real server over loopback TLS,
// how many bytes per item cross the wire, and how much memory does the agent take meanwhile?
// Next to it, in the same run: raw TLS over the same loopback with the same frames, the
// compression floor of those frames, and the server's own decode and bulk insert speeds.
//
//   npm run bench -- drain [--items 1000000] [--cpu-prof] [--restart] [--direct]
//   node bin/run-ts.js bench/drain.ts --items 200000
//
// --cpu-prof runs agent and server under `node --cpu-prof` and prints the top self time of
// each during the drain (the figures are then taken with the profiler on). --restart lets a
// fresh agent process drain, so that its memory is the drain's and not what the read-back
// of the log left behind. --direct leaves out the byte-counting relay (no wire figures).
//
// The drain rate is timed from the agent's first connection after the server came up: the
// agent's reconnect backoff (up to 5 minutes by protocol.md) is reported beside it, not in it.
//
// The item count also comes from BENCH_DRAIN_ITEMS. MB here is 10^6 bytes. The figures are
// printed; the last line is the same as one JSON object. Exit 0 even when targets are
// missed; non-zero only when a measurement could not be made.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import { SqliteDb } from '../src-agent/outbox/sqlite.ts';
import { decodeAgentFrame, type Item } from '../src-agent/transport/codec.ts';
import { ensureTls } from '../src-server/certs.ts';
import { openStore } from '../src-server/store.ts';
import { ensureAgentBuilt } from '../scripts/build-agent.mjs';
import { addDevice } from '../test/helpers/processes.ts';
import { emLine, random } from './ingest/generate.ts';
import { itemsAfter, PROGRESS_SQL } from './outbox-rows.ts';
import {
  profilesByThread,
  readSourceMaps,
  summariseProfile,
  type HotFunction,
} from './ingest/profile.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const AGENT_BIN = path.join(ROOT, 'bin/scopelink-agent.js');
// It runs the agent's bundle: built from the current sources here, before anything is timed.
ensureAgentBuilt();
const SERVER_BIN = path.join(ROOT, 'bin/scopelink-server.js');

const MB = 1e6;
export const DEVICE_ID = 'BENCH-EM';
/** The server's default `maxBatchItems`: the frames the agent sends hold this many items. */
const FRAME_ITEMS = 500;
const POLL_MS = 100;
const INGEST_POLL_MS = 250;
/** An agent or server that moves nothing for this long is stuck, not slow. */
const STALL_MS = 60_000;
const STDERR_KEEP = 16 * 1024;
/** A restarted agent's first seconds: opening a large outbox, the first scan. */
const RESTART_SETTLE_MS = 3000;

const TARGETS = { itemsPerSec: 50_000, wireBytesPerItem: 40, peakRssMb: 150 };

interface Options {
  items: number;
  cpuProf: boolean;
  /** No relay between agent and server: no byte count, but nothing in the path either. */
  direct: boolean;
  /** A fresh agent process drains: its memory is the drain's, not the read-back's. */
  restart: boolean;
}

type Outcome<T> = { ok: T } | { error: string };

export async function main(args: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(args);
  } catch (err) {
    console.error(`bench drain: ${(err as Error).message}`);
    return 2;
  }
  return withScratch('drain', async (tmp) => runBench(options, tmp));
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      items: { type: 'string', default: process.env.BENCH_DRAIN_ITEMS ?? '1000000' },
      'cpu-prof': { type: 'boolean', default: false },
      direct: { type: 'boolean', default: false },
      restart: { type: 'boolean', default: false },
    },
  });
  const items = Number(values.items);
  if (!Number.isInteger(items) || items < FRAME_ITEMS) {
    throw new Error(`--items must be an integer of at least ${FRAME_ITEMS}`);
  }
  return {
    items,
    cpuProf: values['cpu-prof'],
    direct: values.direct,
    restart: values.restart,
  };
}

const progress = (message: string) => console.error(`[bench drain] ${message}`);

// ---------------------------------------------------------------------------------------
// Shared with bench/e2e.ts: scratch space, real processes, /proc figures.

/**
 * Runs `work` with a fresh temp dir; whatever way the bench ends (error, signal,
 * process.exit), the child processes are killed and the dir is removed.
 */
export async function withScratch(
  name: string,
  work: (tmp: string) => Promise<number>,
): Promise<number> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), `scopelink-bench-${name}-`));
  const cleanUp = () => {
    killChildren();
    rmSync(tmp, { recursive: true, force: true });
  };
  process.on('exit', cleanUp);
  const onSignal = (signal: NodeJS.Signals) => process.exit(signal === 'SIGINT' ? 130 : 143);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await work(tmp);
  } catch (err) {
    console.error(`bench ${name}: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    cleanUp();
    process.off('exit', cleanUp);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const children = new Set<ChildProcess>();

/** For exit paths that cannot wait: no child may outlive the bench. */
function killChildren(): void {
  for (const child of children) child.kill('SIGKILL');
}

export interface NodeProcess {
  pid: number;
  hasExited(): boolean;
  stdout(): string;
  stderrTail(): string;
  /** SIGTERM, then the exit code; SIGKILL if it overruns `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface Launch {
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

/** `node [nodeArgs] script args`, spawned directly so that its pid is the process measured. */
function startNode(script: string, args: string[], launch: Launch = {}): NodeProcess {
  const child = spawn(process.execPath, [...(launch.nodeArgs ?? []), script, ...args], {
    env: { ...process.env, ...launch.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    // Only the server's one "listening" line is read from here.
    if (stdout.length < STDERR_KEEP) stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-STDERR_KEEP);
  });
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', () => {
      done = true;
      children.delete(child);
      resolve(null);
    });
    child.on('exit', (code) => {
      done = true;
      children.delete(child);
      resolve(code);
    });
  });
  if (child.pid === undefined) throw new Error(`cannot start ${script}`);
  return {
    pid: child.pid,
    hasExited: () => done,
    stdout: () => stdout,
    stderrTail: () => stderr,
    async stop(graceMs = 15_000) {
      if (done) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export interface ServerProcess extends NodeProcess {
  url: string;
  caFile: string;
}

/** `scopelink-server run`; resolves once it listens. */
export async function startServerProcess(
  dataDir: string,
  listen: string,
  launch: Launch = {},
): Promise<ServerProcess> {
  const proc = startNode(SERVER_BIN, ['run', '--data-dir', dataDir, '--listen', listen], {
    ...launch,
    // Per-connection info lines only; warnings still reach the stderr tail.
    env: { LOG_LEVEL: 'warn', ...launch.env },
  });
  const deadline = performance.now() + STALL_MS;
  for (;;) {
    const line = proc
      .stdout()
      .split('\n')
      .find((l) => l.includes('"listening"'));
    if (line) {
      const { url, caFile } = JSON.parse(line) as { url: string; caFile: string };
      return { ...proc, url, caFile };
    }
    if (proc.hasExited()) throw new Error(`the server exited early:\n${proc.stderrTail()}`);
    if (performance.now() > deadline) throw new Error('the server did not listen within 60 s');
    await sleep(10);
  }
}

export interface AgentConfigInput {
  dir: string;
  serverUrl: string;
  caFile: string;
  logFolder: string;
  extra?: Record<string, unknown>;
}

/** An EM agent reading only `EM Server.log` in `logFolder`; its data dir is `dir/data`. */
export async function writeAgentConfig(input: AgentConfigInput): Promise<string> {
  const file = path.join(input.dir, 'agent.json');
  const config = {
    serverUrl: input.serverUrl,
    caFile: input.caFile,
    dataDir: path.join(input.dir, 'data'),
    device: { id: DEVICE_ID, kind: 'em', model: 'GeminiSEM 560' },
    sources: { 'em-server': { folder: input.logFolder }, 'smartsem-logs': { enabled: false } },
    ...input.extra,
  };
  await mkdir(input.dir, { recursive: true });
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

export function startAgent(configFile: string, token: string, launch: Launch = {}): NodeProcess {
  return startNode(AGENT_BIN, ['run', '--config', configFile], {
    ...launch,
    env: { SCOPELINK_LOG_LEVEL: 'warn', ...launch.env, SCOPELINK_DEVICE_TOKEN: token },
  });
}

export interface ProcSample {
  /** Resident set now (VmRSS), bytes. */
  rss: number;
  /** Peak resident set since start or the last reset (VmHWM), bytes. */
  hwm: number;
  /** User plus system CPU time, seconds. */
  cpuSec: number;
}

/** Linux /proc figures of a live process; null elsewhere or once it is gone. */
export function procSample(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // USER_HZ is 100 on every Linux the bench runs on.
    const cpuSec = (Number(fields[11]) + Number(fields[12])) / 100;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), cpuSec };
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current RSS (Linux 4.0+, own processes), so the next peak is the phase's. */
function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A read-only look into another process's database; its WAL lets it read while they write. */
export async function openReadOnly(file: string, timeoutMs = STALL_MS): Promise<SqliteDb> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (existsSync(file)) {
      try {
        return await SqliteDb.open(file, { readonly: true });
      } catch (err) {
        if (performance.now() > deadline) throw err;
      }
    }
    if (performance.now() > deadline) throw new Error(`${file} did not appear`);
    await sleep(50);
  }
}

/** Monotonic microseconds on the clock V8's CPU profiles use (CLOCK_MONOTONIC). */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const round = (n: number, digits: number) => Number(n.toFixed(digits));
export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const fix = (n: number | null, digits: number) => (n === null ? 'n/a' : n.toFixed(digits));
const pct = (share: number) => `${(share * 100).toFixed(1)}%`;

/** A phase that fails is reported as failed; the other phases still run. */
async function attempt<T>(phase: () => Promise<T>, log: (m: string) => void): Promise<Outcome<T>> {
  try {
    return { ok: await phase() };
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    log(`FAILED: ${message}`);
    return { error: message };
  }
}

// ---------------------------------------------------------------------------------------
// The log the items come from.

interface GeneratedLog {
  file: string;
  bytes: number;
  lines: number;
  /** Items the shipped em profile makes of the file. */
  expectedItems: number;
}

/**
 * SmartSEM's `Label = value unit ; ...` lines (vacuum, gun, stage, system) with values that
 * move as a running instrument's do, until the profile makes at least `minItems` of them.
 * Real values matter here: deflate shrinks repeated numbers far better than drifting ones.
 */
async function generateLog(file: string, minItems: number): Promise<GeneratedLog> {
  const r = random(4711).float;
  const handle = await open(file, 'w');
  let now = Date.now() - 30 * 86_400_000;
  let filamentAge = 1225.14;
  let hours = 17035.3;
  const stage = [9623, 34543, 16672];
  // The outbox stores a state only when it changes: count what it will keep.
  const lastStates = new Map<string, string>();
  const changed = (name: string, value: string) => {
    if (lastStates.get(name) === value) return 0;
    lastStates.set(name, value);
    return 1;
  };
  const sci = (min: number, max: number, exponent: string) =>
    `${(min + (max - min) * r()).toFixed(2)}e-${exponent}`;
  let items = 0;
  let lines = 0;
  let bytes = 0;
  try {
    while (items < minItems) {
      const parts: string[] = [];
      for (let i = 0; i < 20_000 && items < minItems; i++, lines++) {
        now += 200 + Math.floor(r() * 2000);
        let module: string;
        let message: string;
        switch (lines % 4) {
          case 0: {
            const status = r() < 0.02 ? 'Pumping' : 'Ready';
            module = 'Vacuum';
            message =
              `DP_VACSTATUS = ${status} ; Gun Vacuum = ${sci(1, 5, '009')} mbar ; ` +
              `System Vacuum = ${sci(2, 5, '006')} mbar ; Chamber Vacuum = ${sci(5, 9, '004')} mbar`;
            items += 3 + changed('vacuum.status', status);
            break;
          }
          case 1: {
            const state = r() < 0.02 ? 'Beam Off' : 'Beam On';
            filamentAge += Math.floor(r() * 300) / 10_000;
            module = 'Gun';
            message =
              `DP_RUNUPSTATE = ${state} ; EHT = ${['1.00', '5.00', '15.00', '20.00'][Math.floor(r() * 4)]} kV ; ` +
              `Fil I = ${(2.2 + r() * 0.3).toFixed(3)} A ; Filament Age = ${filamentAge.toFixed(2)} Hours`;
            items += 3 + changed('gun.runup_state', state);
            break;
          }
          case 2: {
            for (let k = 0; k < stage.length; k++) stage[k]! += Math.floor(r() * 40);
            module = 'Stage';
            message = `Stage X Cycles = ${stage[0]} ; Stage Y Cycles = ${stage[1]} ; Stage Z Cycles = ${stage[2]}`;
            items += 3;
            break;
          }
          default:
            hours += Math.floor(r() * 10) / 1000;
            module = 'System';
            message = `Operating Hours = ${hours.toFixed(1)} Hours ; Supply 24V = ${(24 + r() * 0.25).toFixed(2)} V`;
            items += 2;
        }
        parts.push(emLine(now, 'INFO', module, message));
      }
      // ASCII only, so latin1 is the file's cp1252.
      const chunk = Buffer.from(parts.join(''), 'latin1');
      await handle.write(chunk);
      bytes += chunk.length;
    }
  } finally {
    await handle.close();
  }
  return { file, bytes, lines, expectedItems: items };
}

// ---------------------------------------------------------------------------------------
// The drain.

interface QueueFigures {
  items: number;
  expectedItems: number;
  /** Spawn to every line committed to the outbox: not the subject here, shown for context. */
  ingestSec: number;
  firstSeq: number;
  lastSeq: number;
  /** Text of the frames as the agent sends them. */
  frameBytes: number;
  frames: number;
}

interface DrainFigures {
  items: number;
  serverItems: number;
  /** Server listening (and relay open) to the outbox empty, the agent's reconnect wait included. */
  fromServerUpSec: number;
  /**
   * The agent's backoff: server up to its first connection (the relay's accept; without the
   * relay, the server's first last_seen_at, up to a poll late). Null if neither was seen.
   */
  reconnectWaitSec: number | null;
  /** First connection to the outbox empty: the drain proper. */
  drainSec: number | null;
  itemsPerSec: number;
  itemsPerSecFromServerUp: number;
  /** Between 10 % and 90 % acknowledged: the rate without start and tail. */
  steadyItemsPerSec: number | null;
  wire: {
    agentToServerBytes: number;
    serverToAgentBytes: number;
    connections: number;
    bytesPerItem: number;
    /** Wire bytes over the frames' JSON text: what permessage-deflate (and TLS) made of them. */
    ratioToFrameText: number;
  } | null;
  agent: {
    rssBeforeMb: number;
    /** Peak over the agent's life until the server came up (the ingest). */
    peakBeforeMb: number;
    /** Peak from the server coming up to the outbox empty. */
    peakDrainMb: number;
    /** Whether VmHWM could be reset at the start of the drain; if not, peakDrainMb is lifelong. */
    peakReset: boolean;
    cpuSec: number;
    itemsPerCpuSec: number;
  };
  server: { peakMb: number; cpuSec: number; itemsPerCpuSec: number };
  agentExit: number | null;
  serverExit: number | null;
}

interface Baselines {
  rawTls: { mb: number; sec: number; mbPerSec: number; itemsPerSec: number };
  deflate: { bytesPerItem: number; ratio: number; mbPerSec: number };
  decode: { itemsPerSec: number };
  store: { itemsPerSec: number; frames: number; msPerFrame: number };
}

interface Profiles {
  agent: Outcome<HotFunction[]>;
  server: Outcome<HotFunction[]>;
}

async function runBench(options: Options, tmp: string): Promise<number> {
  const loadAtStart = os.loadavg()[0]!;
  const logFolder = path.join(tmp, 'SmartSEM', 'Log');
  await mkdir(logFolder, { recursive: true });
  progress(`generating an EM Server.log with at least ${int(options.items)} items`);
  const t = performance.now();
  const log = await generateLog(path.join(logFolder, 'EM Server.log'), options.items);
  const generateSec = (performance.now() - t) / 1000;

  // The server's store and CA exist before the agent starts: it needs the token and the CA
  // file, and `run` (which makes the CA) is what must not happen yet.
  const serverDir = path.join(tmp, 'server');
  const token = await addDevice(serverDir, DEVICE_ID);
  const material = await ensureTls(path.join(serverDir, 'tls'));
  const serverPort = await freePort();
  const agentPort = options.direct ? serverPort : await freePort();
  const agentDir = path.join(tmp, 'agent');
  const profileDir = path.join(tmp, 'profiles');
  const prof = (name: string): Launch =>
    options.cpuProf
      ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', path.join(profileDir, name)] }
      : {};
  const config = await writeAgentConfig({
    dir: agentDir,
    serverUrl: `wss://127.0.0.1:${agentPort}/agent/v1`,
    caFile: material.caFile,
    logFolder,
    extra: {
      // The whole file is read back on this first start, whatever its age and size.
      collect: { backfill: { maxAgeDays: 0, maxBytes: 0 } },
      outbox: { maxItems: Math.max(2_000_000, 2 * options.items), maxMB: 100_000 },
    },
  });

  progress('queueing: the agent reads the log while nothing listens at its server URL');
  // With --restart, only the second agent (the one that drains) is profiled.
  let agent = startAgent(config, token, options.restart ? {} : prof('agent'));
  let server: ServerProcess | null = null;
  let relay: ByteRelay | null = null;
  try {
    const outboxFile = path.join(agentDir, 'data', 'outbox.db');
    const queue = await waitForQueue(agent, outboxFile, log);
    progress(`queued ${int(queue.items)} items in ${fix(queue.ingestSec, 1)} s`);
    const frames = await readFrames(outboxFile);
    queue.frameBytes = frames.reduce((sum, f) => sum + f.length, 0);
    queue.frames = frames.length;
    if (options.restart) {
      progress('restarting the agent, so that the drain starts without the read-back behind it');
      const code = await agent.stop();
      if (code !== 0) throw new Error(`the agent exited with ${code} on SIGTERM`);
      agent = startAgent(config, token, prof('agent'));
      await waitUntilSettled(agent, path.join(agentDir, 'data', 'status.json'));
    }

    progress('draining: the server comes up');
    const before = procSample(agent.pid);
    const peakReset = resetPeakRss(agent.pid);
    server = await startServerProcess(serverDir, `127.0.0.1:${serverPort}`, prof('server'));
    if (!options.direct) relay = await ByteRelay.start(agentPort, serverPort);
    const serverUp = { ms: performance.now(), us: monotonicUs() };
    const serverCpuAtUp = procSample(server.pid)?.cpuSec ?? 0;
    const drained = await waitForDrain(agent, server, outboxFile, serverDir, queue);
    const end = { ms: performance.now(), us: monotonicUs() };
    const agentAfter = procSample(agent.pid);
    const serverAfter = procSample(server.pid);
    // Without the relay, the server's record of the hello stands in for the connection.
    const connectedAt = relay?.firstConnect ?? drained.helloAt;
    const wire = relay && {
      up: relay.up,
      down: relay.down,
      connections: relay.connections,
    };
    await relay?.close();
    relay = null;
    const agentExit = await agent.stop();
    const serverExit = await server.stop();
    const serverItems = await countServerItems(serverDir);

    const drainSec = connectedAt === null ? null : (end.ms - connectedAt.ms) / 1000;
    const fromServerUpSec = (end.ms - serverUp.ms) / 1000;
    const agentCpu = (agentAfter?.cpuSec ?? NaN) - (before?.cpuSec ?? NaN);
    const serverCpu = (serverAfter?.cpuSec ?? NaN) - serverCpuAtUp;
    const drain: DrainFigures = {
      items: queue.items,
      serverItems,
      fromServerUpSec: round(fromServerUpSec, 2),
      reconnectWaitSec:
        connectedAt === null ? null : round((connectedAt.ms - serverUp.ms) / 1000, 2),
      drainSec: drainSec === null ? null : round(drainSec, 2),
      itemsPerSec: Math.round(queue.items / (drainSec ?? fromServerUpSec)),
      itemsPerSecFromServerUp: Math.round(queue.items / fromServerUpSec),
      steadyItemsPerSec: drained.steadyItemsPerSec,
      wire: wire && {
        agentToServerBytes: wire.up,
        serverToAgentBytes: wire.down,
        connections: wire.connections,
        bytesPerItem: round(wire.up / queue.items, 1),
        ratioToFrameText: round(wire.up / queue.frameBytes, 3),
      },
      agent: {
        rssBeforeMb: round((before?.rss ?? NaN) / MB, 0),
        peakBeforeMb: round((before?.hwm ?? NaN) / MB, 0),
        peakDrainMb: round(Math.max(agentAfter?.hwm ?? NaN, drained.agentMaxRss) / MB, 0),
        peakReset,
        cpuSec: round(agentCpu, 1),
        itemsPerCpuSec: Math.round(queue.items / agentCpu),
      },
      server: {
        peakMb: round((serverAfter?.hwm ?? NaN) / MB, 0),
        cpuSec: round(serverCpu, 1),
        itemsPerCpuSec: Math.round(queue.items / serverCpu),
      },
      agentExit,
      serverExit,
    };
    if (serverItems !== queue.items) {
      throw new Error(`the server holds ${serverItems} items of ${queue.items} queued`);
    }
    if (agentExit !== 0) throw new Error(`the agent exited with ${agentExit} on SIGTERM`);

    let profiles: Profiles | undefined;
    if (options.cpuProf) {
      progress('profiles: the drain window of each process');
      const from = connectedAt?.us ?? serverUp.us;
      const maps = await attempt(() => harvestSourceMaps(path.join(tmp, 'maps')), progress);
      const sourceMaps = 'ok' in maps ? maps.ok : new Map();
      profiles = {
        agent: await attempt(
          () => windowProfile(path.join(profileDir, 'agent'), from, end.us, sourceMaps),
          progress,
        ),
        server: await attempt(
          () => windowProfile(path.join(profileDir, 'server'), from, end.us, sourceMaps),
          progress,
        ),
      };
    }

    progress('baselines: raw TLS, deflate, decode and store on the same frames');
    const baselines = await measureBaselines(frames, queue.items, material, tmp);

    const results = {
      bench: 'drain',
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      // Other work on the machine skews every figure here; this shows whether there was any.
      loadAverage: { start: round(loadAtStart, 2), end: round(os.loadavg()[0]!, 2) },
      relay: !options.direct,
      restart: options.restart,
      profiled: options.cpuProf,
      log: {
        bytes: log.bytes,
        lines: log.lines,
        expectedItems: log.expectedItems,
        generateSec: round(generateSec, 2),
      },
      queue: { ...queue, ingestSec: round(queue.ingestSec, 2) },
      drain,
      baselines,
      targets: targetChecks(drain),
      ...(profiles ? { cpuProfile: profiles } : {}),
    };
    printReport(results);
    console.log(JSON.stringify(results));
    return 0;
  } finally {
    await relay?.close();
    await server?.stop();
    await agent.stop();
  }
}

/** Spawn to all lines committed: the file's cursor at its end and the newest seq still. */
async function waitForQueue(
  agent: NodeProcess,
  outboxFile: string,
  log: GeneratedLog,
): Promise<QueueFigures> {
  const started = performance.now();
  const db = await openReadOnly(outboxFile);
  try {
    let last = { seq: -1, offset: -1 };
    let lastMove = started;
    let settled = false;
    for (;;) {
      await sleep(INGEST_POLL_MS);
      if (agent.hasExited()) throw new Error(`the agent exited early:\n${agent.stderrTail()}`);
      const now = performance.now();
      // The newest seq stands in for count(*), which walks the whole table; nothing is
      // acknowledged yet, so they agree. Until the agent has made its tables, nothing to read.
      const at = await db.get<{ seq: number; offset: number }>(PROGRESS_SQL).catch(() => undefined);
      if (!at) continue;
      if (at.seq !== last.seq || at.offset !== last.offset) lastMove = now;
      else if (now - lastMove > STALL_MS) {
        throw new Error(
          `no progress for ${STALL_MS / 1000} s (cursor at ${at.offset} of ${log.bytes} bytes):\n` +
            agent.stderrTail(),
        );
      }
      const done = at.offset >= log.bytes && at.seq === last.seq;
      last = at;
      if (!done) continue;
      // One more quiet poll: the last entry of a file is committed after its settle time.
      if (!settled) {
        settled = true;
        continue;
      }
      const ingestSec = (lastMove - started) / 1000;
      const counts = await db.get<{ n: number; first: number; last: number }>(
        'SELECT sum(live) AS n, min(first_seq) AS first, max(last_seq) AS last FROM batches',
      );
      const items = counts?.n ?? 0;
      if (items < log.expectedItems) {
        throw new Error(`the outbox holds ${items} items, ${log.expectedItems} expected`);
      }
      return {
        items,
        expectedItems: log.expectedItems,
        ingestSec,
        firstSeq: counts!.first,
        lastSeq: counts!.last,
        frameBytes: 0,
        frames: 0,
      };
    }
  } finally {
    await db.close();
  }
}

/**
 * Up: the agent has published a status of its own (its pid) and has had a moment to open
 * its outbox and scan its sources, which finds nothing new.
 */
async function waitUntilSettled(agent: NodeProcess, statusFile: string): Promise<void> {
  const deadline = performance.now() + STALL_MS;
  for (;;) {
    const status = await readFile(statusFile, 'utf8')
      .then((text) => JSON.parse(text) as { agent?: { pid?: number } })
      .catch(() => null);
    if (status?.agent?.pid === agent.pid) break;
    if (agent.hasExited()) throw new Error(`the agent exited early:\n${agent.stderrTail()}`);
    if (performance.now() > deadline) throw new Error('the restarted agent did not start');
    await sleep(50);
  }
  await sleep(RESTART_SETTLE_MS);
}

/** The queued items as the agent frames them (outbox.ts read, session.ts fitFrame). */
async function readFrames(outboxFile: string): Promise<string[]> {
  const db = await openReadOnly(outboxFile);
  try {
    const frames: string[] = [];
    const items = (await itemsAfter(db, 0)).map((r) => `{"seq":${r.seq},${r.body.slice(1)}`);
    for (let i = 0; i < items.length; i += FRAME_ITEMS) {
      frames.push(`{"type":"items","items":[${items.slice(i, i + FRAME_ITEMS).join(',')}]}`);
    }
    return frames;
  } finally {
    await db.close();
  }
}

/**
 * Server up to outbox empty and everything acknowledged. Polls the agent's outbox for any row
 * left and the server's store for the stream's acknowledged seq, both by primary key.
 */
async function waitForDrain(
  agent: NodeProcess,
  server: NodeProcess,
  outboxFile: string,
  serverDir: string,
  queue: QueueFigures,
): Promise<{
  steadyItemsPerSec: number | null;
  agentMaxRss: number;
  /** The device's first last_seen_at, on this clock: its hello, or a frame soon after. */
  helloAt: { ms: number; us: number } | null;
}> {
  const outbox = await openReadOnly(outboxFile);
  const store = await openReadOnly(path.join(serverDir, 'server.db'));
  try {
    const timeline: { ms: number; acked: number }[] = [];
    let agentMaxRss = 0;
    let helloAt: { ms: number; us: number } | null = null;
    let lastAcked = -1;
    let lastMove = performance.now();
    let nextReport = lastMove + 5000;
    for (;;) {
      await sleep(POLL_MS);
      for (const [name, proc] of [
        ['agent', agent],
        ['server', server],
      ] as const) {
        if (proc.hasExited()) throw new Error(`the ${name} exited early:\n${proc.stderrTail()}`);
      }
      const now = performance.now();
      agentMaxRss = Math.max(agentMaxRss, procSample(agent.pid)?.rss ?? 0);
      const left = await outbox.get<{ last_seq: number }>('SELECT last_seq FROM batches LIMIT 1');
      const row = await store.get<{ acked: number }>(
        'SELECT max(acked_seq) AS acked FROM streams WHERE device_id = ?',
        [DEVICE_ID],
      );
      const acked = Math.max(0, (row?.acked ?? 0) - queue.firstSeq + 1);
      if (helloAt === null) {
        const device = await store.get<{ seen: string | null }>(
          'SELECT last_seen_at AS seen FROM devices WHERE id = ?',
          [DEVICE_ID],
        );
        if (device?.seen) {
          // Wall clock to this process's monotonic clocks; a poll late, at most.
          const ago = Date.now() - Date.parse(device.seen);
          helloAt = { ms: performance.now() - ago, us: monotonicUs() - ago * 1000 };
        }
      }
      timeline.push({ ms: now, acked });
      if (acked !== lastAcked) {
        lastAcked = acked;
        lastMove = now;
      } else if (now - lastMove > STALL_MS) {
        throw new Error(
          `nothing acknowledged for ${STALL_MS / 1000} s (${acked} of ${queue.items}):\n` +
            `agent: ${agent.stderrTail()}\nserver: ${server.stderrTail()}`,
        );
      }
      if (now > nextReport) {
        nextReport = now + 5000;
        progress(`${int(acked)} of ${int(queue.items)} acknowledged`);
      }
      if (left === undefined && acked >= queue.items) break;
    }
    // The rate between 10 % and 90 % leaves out the connection's start and the last frames.
    const at = (share: number) => timeline.find((p) => p.acked >= share * queue.items);
    const low = at(0.1);
    const high = at(0.9);
    const steady =
      low && high && high.ms - low.ms >= 1000
        ? Math.round((high.acked - low.acked) / ((high.ms - low.ms) / 1000))
        : null;
    return { steadyItemsPerSec: steady, agentMaxRss, helloAt };
  } finally {
    await outbox.close();
    await store.close();
  }
}

async function countServerItems(serverDir: string): Promise<number> {
  const store = await openReadOnly(path.join(serverDir, 'server.db'));
  try {
    const row = await store.get<{ n: number }>(
      `SELECT count(*) AS n FROM items
       WHERE stream_id IN (SELECT id FROM streams WHERE device_id = ?)`,
      [DEVICE_ID],
    );
    return row?.n ?? 0;
  } finally {
    await store.close();
  }
}

/**
 * A TCP pipe on loopback that counts the bytes each way. TLS passes through untouched, so
 * what it counts is what the agent put on the wire: TLS records of WebSocket frames.
 */
class ByteRelay {
  up = 0;
  down = 0;
  connections = 0;
  firstConnect: { ms: number; us: number } | null = null;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {}

  static async start(port: number, target: number): Promise<ByteRelay> {
    const relay = new ByteRelay(net.createServer({ noDelay: true }));
    relay.server.on('connection', (client) => relay.accept(client, target));
    await new Promise<void>((resolve, reject) => {
      relay.server.once('error', reject);
      relay.server.listen(port, '127.0.0.1', () => resolve());
    });
    return relay;
  }

  private accept(client: net.Socket, target: number): void {
    this.connections++;
    this.firstConnect ??= { ms: performance.now(), us: monotonicUs() };
    const upstream = net.connect({ port: target, host: '127.0.0.1', noDelay: true });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => (this.up += chunk.length));
    upstream.on('data', (chunk: Buffer) => (this.down += chunk.length));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------
// Baselines: the same frames without the agent and the server around them.

async function measureBaselines(
  frames: string[],
  items: number,
  material: { certPem: string; keyPem: string; caPem: string },
  tmp: string,
): Promise<Baselines> {
  return {
    rawTls: await rawTls(frames, items, material),
    deflate: await deflateFloor(frames, items),
    decode: decodeSpeed(frames, items),
    store: await storeSpeed(frames, items, path.join(tmp, 'store-baseline')),
  };
}

// Plain JavaScript, evaluated in a worker: the receiving end runs on its own thread, as the
// server runs in its own process, and needs no TypeScript loader.
const TLS_RECEIVER = `
const { parentPort, workerData } = require('node:worker_threads');
const tls = require('node:tls');
const server = tls.createServer({ key: workerData.key, cert: workerData.cert }, (socket) => {
  let got = 0;
  socket.on('data', (chunk) => {
    got += chunk.length;
    if (got >= workerData.total) {
      parentPort.postMessage({ done: true });
      socket.end();
      server.close();
    }
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
`;

/** The frames' bytes over a plain TLS connection on loopback: the transport's ceiling. */
async function rawTls(
  frames: string[],
  items: number,
  material: { certPem: string; keyPem: string; caPem: string },
): Promise<Baselines['rawTls']> {
  const buffers = frames.map((f) => Buffer.from(f));
  const total = buffers.reduce((sum, b) => sum + b.length, 0);
  const worker = new Worker(TLS_RECEIVER, {
    eval: true,
    workerData: { key: material.keyPem, cert: material.certPem, total },
  });
  try {
    const messages: { port?: number; done?: boolean }[] = [];
    let wake: (() => void) | null = null;
    worker.on('message', (m: { port?: number; done?: boolean }) => {
      messages.push(m);
      wake?.();
    });
    const next = () =>
      new Promise<{ port?: number; done?: boolean }>((resolve, reject) => {
        worker.once('error', reject);
        const check = () => {
          const m = messages.shift();
          if (m) {
            wake = null;
            resolve(m);
          } else wake = check;
        };
        check();
      });
    const { port } = await next();
    const socket = tls.connect({ port: port!, host: '127.0.0.1', ca: material.caPem });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    const done = next();
    const started = performance.now();
    for (const buffer of buffers) {
      if (!socket.write(buffer)) await new Promise((resolve) => socket.once('drain', resolve));
    }
    await done;
    const sec = (performance.now() - started) / 1000;
    socket.destroy();
    return {
      mb: round(total / MB, 1),
      sec: round(sec, 2),
      mbPerSec: round(total / MB / sec, 0),
      itemsPerSec: Math.round(items / sec),
    };
  } finally {
    await worker.terminate();
  }
}

/**
 * permessage-deflate as ws does it with context takeover: one raw deflate stream, a sync
 * flush per message, the flush's 4-byte tail left off. The least the frames can cost.
 */
async function deflateFloor(frames: string[], items: number): Promise<Baselines['deflate']> {
  const deflate = zlib.createDeflateRaw();
  let out = 0;
  deflate.on('data', (chunk: Buffer) => (out += chunk.length));
  let input = 0;
  const started = performance.now();
  for (const frame of frames) {
    input += Buffer.byteLength(frame);
    deflate.write(frame);
    await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, resolve));
    out -= 4;
  }
  const sec = (performance.now() - started) / 1000;
  deflate.close();
  return {
    bytesPerItem: round(out / items, 1),
    ratio: round(out / input, 3),
    mbPerSec: round(input / MB / sec, 0),
  };
}

/** The server's validation of each frame (JSON.parse and the zod schema), alone. */
function decodeSpeed(frames: string[], items: number): Baselines['decode'] {
  const started = performance.now();
  for (const frame of frames) decodeAgentFrame(frame);
  return { itemsPerSec: Math.round(items / ((performance.now() - started) / 1000)) };
}

/** The server's store alone: the same items through storeItems, one transaction per frame. */
async function storeSpeed(
  frames: string[],
  items: number,
  dir: string,
): Promise<Baselines['store']> {
  const store = await openStore(dir);
  try {
    await store.addDevice(DEVICE_ID);
    const stream = randomUUID();
    let ms = 0;
    for (const frame of frames) {
      const batch = (JSON.parse(frame) as { items: Item[] }).items;
      const started = performance.now();
      await store.storeItems(DEVICE_ID, stream, batch);
      ms += performance.now() - started;
    }
    return {
      itemsPerSec: Math.round(items / (ms / 1000)),
      frames: frames.length,
      msPerFrame: round(ms / frames.length, 2),
    };
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------------------------------
// CPU profiles.

interface CpuProfile {
  nodes: unknown[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * The samples of the process's .cpuprofile that fall into [fromUs, toUs] (CLOCK_MONOTONIC,
 * the clock of both V8's profiler and process.hrtime), summarised by self time.
 */
async function windowProfile(
  dir: string,
  fromUs: number,
  toUs: number,
  maps: Awaited<ReturnType<typeof readSourceMaps>>,
): Promise<HotFunction[]> {
  // The main thread's: a parse worker that ran before the drain wrote one too.
  const [main] = await profilesByThread(dir);
  const profile = JSON.parse(await readFile(main!.file, 'utf8')) as CpuProfile;
  let at = profile.startTime;
  const samples: number[] = [];
  const deltas: number[] = [];
  let previous = fromUs;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i]!;
    if (at < fromUs || at > toUs) return;
    samples.push(id);
    deltas.push(at - previous);
    previous = at;
  });
  if (samples.length === 0) {
    throw new Error(
      `no samples in the drain window (profile ${profile.startTime}-${profile.endTime} us, ` +
        `window ${fromUs}-${toUs} us)`,
    );
  }
  const windowDir = path.join(dir, 'window');
  await mkdir(windowDir, { recursive: true });
  const sliced: CpuProfile = {
    ...profile,
    startTime: fromUs,
    endTime: Math.min(toUs, profile.endTime),
    samples,
    timeDeltas: deltas,
  };
  const windowFile = path.join(windowDir, 'window.cpuprofile');
  await writeFile(windowFile, JSON.stringify(sliced));
  return summariseProfile(windowFile, maps, ROOT, 15);
}

/**
 * The source maps of the agent's bundle and the server's modules (which tsx compiles), from
 * short runs of their own with coverage on: coverage would skew the profiled run.
 */
async function harvestSourceMaps(dir: string): Promise<Awaited<ReturnType<typeof readSourceMaps>>> {
  const coverage = path.join(dir, 'coverage');
  const env = { NODE_V8_COVERAGE: coverage };
  const serverDir = path.join(dir, 'server');
  const token = await addDevice(serverDir, DEVICE_ID);
  const server = await startServerProcess(serverDir, '127.0.0.1:0', { env });
  try {
    const logFolder = path.join(dir, 'Log');
    await mkdir(logFolder, { recursive: true });
    const config = await writeAgentConfig({
      dir: path.join(dir, 'agent'),
      serverUrl: server.url,
      caFile: server.caFile,
      logFolder,
    });
    const agent = startAgent(config, token, { env });
    const status = path.join(dir, 'agent', 'data', 'status.json');
    const deadline = performance.now() + STALL_MS;
    while (!existsSync(status) && !agent.hasExited() && performance.now() < deadline) {
      await sleep(50);
    }
    // A moment on the wire, so that the transport's modules are loaded too.
    await sleep(1000);
    await agent.stop();
  } finally {
    await server.stop();
  }
  return readSourceMaps(coverage);
}

// ---------------------------------------------------------------------------------------
// Report.

interface TargetCheck {
  target: string;
  value: number | null;
  met: boolean | null;
}

function targetChecks(drain: DrainFigures): TargetCheck[] {
  const wire = drain.wire?.bytesPerItem ?? null;
  return [
    {
      target: `drain >= ${int(TARGETS.itemsPerSec)} items/s`,
      value: drain.itemsPerSec,
      met: drain.itemsPerSec >= TARGETS.itemsPerSec,
    },
    {
      target: `wire <= ${TARGETS.wireBytesPerItem} bytes/item`,
      value: wire,
      met: wire === null ? null : wire <= TARGETS.wireBytesPerItem,
    },
    {
      target: `agent peak RSS <= ${TARGETS.peakRssMb} MB`,
      value: drain.agent.peakDrainMb,
      met: drain.agent.peakDrainMb <= TARGETS.peakRssMb,
    },
  ];
}

interface Results {
  node: string;
  cpus: number;
  loadAverage: { start: number; end: number };
  relay: boolean;
  restart: boolean;
  profiled: boolean;
  log: { bytes: number; lines: number; expectedItems: number; generateSec: number };
  queue: QueueFigures;
  drain: DrainFigures;
  baselines: Baselines;
  targets: TargetCheck[];
  cpuProfile?: Profiles;
}

function printReport(r: Results): void {
  const out: string[] = [];
  const p = (line = '') => out.push(line);
  const { drain: d, baselines: b, queue: q } = r;
  p(`ScopeLink drain bench   node ${r.node}, ${r.cpus} CPUs, MB = 10^6 bytes`);
  p(
    `load average (1 min) ${fix(r.loadAverage.start, 2)} at the start, ` +
      `${fix(r.loadAverage.end, 2)} at the end` +
      (r.profiled ? '; agent and server ran under --cpu-prof' : ''),
  );
  p();
  p('queue (server down)');
  p(
    `  EM Server.log  ${fix(r.log.bytes / MB, 1)} MB, ${int(r.log.lines)} lines ` +
      `(${fix(r.log.generateSec, 1)} s to generate)`,
  );
  p(
    `  outbox         ${int(q.items)} items (${int(q.expectedItems)} expected), ` +
      `read in ${fix(q.ingestSec, 1)} s`,
  );
  p(
    `  frames         ${int(q.frames)} of up to ${FRAME_ITEMS} items, ` +
      `${fix(q.frameBytes / MB, 1)} MB of JSON, ${fix(q.frameBytes / q.items, 1)} bytes/item`,
  );
  p();
  p(
    `drain (${r.relay ? 'through a counting TCP relay' : 'direct, no relay'}; ` +
      `${r.restart ? 'a restarted agent' : 'the agent that queued the items'})`,
  );
  p(`  server items   ${int(d.serverItems)}${d.serverItems === d.items ? ' (all)' : ' MISMATCH'}`);
  if (d.drainSec !== null) {
    p(
      `  drain          ${fix(d.drainSec, 2)} s from the agent's connection: ${int(d.itemsPerSec)} items/s` +
        (r.relay ? '' : " (connection from the server's last_seen_at, +-0.1 s)"),
    );
    p(`  reconnect      ${fix(d.reconnectWaitSec, 2)} s from server up to the agent's next try`);
  }
  p(`  from server up ${fix(d.fromServerUpSec, 2)} s: ${int(d.itemsPerSecFromServerUp)} items/s`);
  p(
    `  steady         ${d.steadyItemsPerSec === null ? 'n/a' : int(d.steadyItemsPerSec)} items/s ` +
      `(10 % to 90 % acknowledged)`,
  );
  if (d.wire) {
    p(
      `  wire           ${fix(d.wire.agentToServerBytes / MB, 2)} MB agent -> server ` +
        `(${fix(d.wire.bytesPerItem, 1)} bytes/item, ${pct(d.wire.ratioToFrameText)} of the JSON), ` +
        `${fix(d.wire.serverToAgentBytes / MB, 2)} MB back, ${d.wire.connections} connection(s)`,
    );
  }
  p(
    `  agent          RSS ${int(d.agent.rssBeforeMb)} MB at server up (peak ${int(d.agent.peakBeforeMb)} MB ` +
      `${r.restart ? 'since the restart' : 'while queueing'}), peak ${int(d.agent.peakDrainMb)} MB during the drain` +
      (d.agent.peakReset ? '' : ' (lifelong: VmHWM could not be reset)'),
  );
  p(
    `                 CPU ${fix(d.agent.cpuSec, 1)} s, ${int(d.agent.itemsPerCpuSec)} items per CPU second`,
  );
  p(
    `  server         peak RSS ${int(d.server.peakMb)} MB, CPU ${fix(d.server.cpuSec, 1)} s, ` +
      `${int(d.server.itemsPerCpuSec)} items per CPU second`,
  );
  p();
  p('baselines (same frames, same machine, after the drain)');
  p(
    `  raw TLS        ${fix(b.rawTls.mb, 1)} MB uncompressed in ${fix(b.rawTls.sec, 2)} s: ` +
      `${int(b.rawTls.mbPerSec)} MB/s, ${int(b.rawTls.itemsPerSec)} items/s`,
  );
  p(
    `  deflate floor  ${fix(b.deflate.bytesPerItem, 1)} bytes/item (${pct(b.deflate.ratio)}), ` +
      `${int(b.deflate.mbPerSec)} MB/s on one core`,
  );
  p(`  server decode  ${int(b.decode.itemsPerSec)} items/s (JSON.parse + zod)`);
  p(
    `  server store   ${int(b.store.itemsPerSec)} items/s (storeItems, ${fix(b.store.msPerFrame, 2)} ms ` +
      `per ${FRAME_ITEMS}-item frame)`,
  );
  p(
    `  agent/baseline drain ${pct(d.itemsPerSec / b.rawTls.itemsPerSec)} of raw TLS, ` +
      `${pct(d.itemsPerSec / b.store.itemsPerSec)} of the store alone` +
      (d.wire
        ? `; wire ${fix(d.wire.bytesPerItem / b.deflate.bytesPerItem, 2)}x the deflate floor`
        : ''),
  );
  p();
  p('targets');
  for (const t of r.targets) {
    const verdict = t.met === null ? 'n/a' : t.met ? 'met' : 'NOT MET';
    p(`  ${t.target.padEnd(30)} ${verdict}${t.value === null ? '' : ` (${fix(t.value, 1)})`}`);
  }
  for (const [name, o] of Object.entries(r.cpuProfile ?? {}) as [
    string,
    Outcome<HotFunction[]>,
  ][]) {
    p();
    if (!('ok' in o)) {
      p(`${name} CPU profile: FAILED: ${o.error}`);
      continue;
    }
    p(`${name} CPU profile, drain window: top self time on the main thread`);
    for (const h of o.ok) {
      p(`  ${fix(h.selfMs, 0).padStart(7)} ms ${pct(h.share).padStart(6)}  ${h.name}  ${h.where}`);
    }
  }
  console.log(out.join('\n'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exit(await main(process.argv.slice(2)));
}
