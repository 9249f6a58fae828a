// Ingest bench: how fast the real agent turns large SmartSEM and ZEN logs into committed
// outbox items, next to how fast the same files can merely be read, and how long a live
// line takes from being written to being committed.
//
//   npm run bench -- ingest [--em-mb 200] [--zen-mb 200] [--latency-sec 10] [--latency-rate 1000]
//                           [--runs 1] [--cpu-prof] [--node-args="--max-semi-space-size=32 ..."]
//
// --runs N starts the agent N times on each file and shows the run of median wall time: on
// a machine whose speed varies, single runs differ by a fifth. Around each run a fixed piece of
// work on every core (ingest/machine.ts) shows how fast the machine was meanwhile.
//
// Both logs are 200 MB by default, the size the issue sets for the EM log: a backfill that
// large is where the rate matters, and the agent's start-up (about 0.4 s to the first item,
// shown on its own line) weighs the same in both figures. A 50 MB ZEN log, the default until
// 2026-12-02, spends a third of its time in that start-up.
//
// Sizes also come from BENCH_EM_MB, BENCH_ZEN_MB. MB here is 10^6 bytes. The figures are
// printed; the last line is the same as one JSON object. Exit 0 even when targets are
// missed; non-zero only when a measurement could not be made.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { mkdir, mkdtemp, open, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  killAgents,
  OutboxReader,
  processFigures,
  ROOT,
  startAgent,
  writeAgentConfig,
  type AgentLaunch,
  type AgentProcess,
} from './ingest/agent.ts';
import {
  emLine,
  generateEmServerLog,
  generateZenLog,
  type GeneratedLog,
} from './ingest/generate.ts';
import { machineReferenceMs } from './ingest/machine.ts';
import { builtSourceMaps, summariseProfiles, type ThreadProfile } from './ingest/profile.ts';
import { COUNT_SQL, itemsAfter, PROGRESS_SQL } from './outbox-rows.ts';

const MB = 1e6;
const READ_CHUNK = 4 * 1024 * 1024;
/**
 * The end of an ingest is seen at the first poll after it: on average half a poll late. At
 * 250 ms that overstated a 2 s ingest by about 6%, at 50 ms a 1.3 s one by 2%.
 */
const POLL_MS = 10;
/**
 * Between the first item and the last stretch, polls come at most this far apart: they are
 * timed to the end the recent rate foresees, and at POLL_MS near it. Polling every 10 ms took
 * this process 6% of a core throughout (0.34 s of CPU in a 5.3 s ingest), taken from the two
 * cores the agent is measured on.
 */
const CRUISE_POLL_MS = 100;
const LATENCY_POLL_MS = 5;
/**
 * Shorter spans are too short to give a steady rate: both of its ends are seen at a poll, so
 * half a second is read to within 4%. A 50 MB ZEN log takes about 0.8 s after the first item:
 * the rate over those shows how much of the figure from spawn is start-up.
 */
const MIN_STEADY_MS = 500;
/** An agent that moves neither cursor nor seq for this long is stuck, not slow. */
const STALL_MS = 60_000;

const TARGETS = { itemsPerSec: 100_000, mbPerSec: 30, p99Ms: 100 };

interface Options {
  emMb: number;
  zenMb: number;
  latencySec: number;
  latencyRate: number;
  runs: number;
  cpuProf: boolean;
  /** Node options for every agent this bench starts: for trying runtime settings. */
  nodeArgs: string[];
}

interface Baseline {
  readMBps: number;
  splitMBps: number;
  lines: number;
}

/** One agent run's figures. */
interface RunFigures {
  wallSec: number;
  /** From spawn to the first committed item: start-up, not throughput. */
  firstItemSec: number | null;
  items: number;
  itemsPerSec: number;
  /** From the first committed item on: throughput without the start-up. */
  steadyItemsPerSec: number | null;
  mbPerSec: number;
  peakRssMb: number | null;
  cpuSec: number | null;
  /** Items per second of the agent's own CPU time: what a busy machine does not skew. */
  itemsPerCpuSec: number | null;
  exitCode: number | null;
}

/** The median run of an ingest's runs, with what the others measured. */
interface IngestFigures extends RunFigures {
  /** The machine reference (machine.ts) around this run: the mean of before and after. */
  machineMs: number;
  /** Wall time of every run, in the order run (this one is their median). */
  runsWallSec: number[];
  /** The machine reference around every run, in the order run. */
  runsMachineMs: number[];
}

interface LatencyFigures {
  lines: number;
  measured: number;
  missing: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

type Outcome<T> = { ok: T } | { skipped: string } | { error: string };

export async function main(args: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(args);
  } catch (err) {
    console.error(`bench ingest: ${(err as Error).message}`);
    return 2;
  }
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'scopelink-bench-ingest-'));
  // Exit paths that skip `finally` (a signal, process.exit) still leave nothing behind.
  const cleanUp = () => {
    killAgents();
    rmSync(tmp, { recursive: true, force: true });
  };
  process.on('exit', cleanUp);
  const onSignal = (signal: NodeJS.Signals) => process.exit(signal === 'SIGINT' ? 130 : 143);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await runBench(options, tmp);
  } catch (err) {
    console.error(`bench ingest: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    cleanUp();
    process.off('exit', cleanUp);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      'em-mb': { type: 'string', default: process.env.BENCH_EM_MB ?? '200' },
      'zen-mb': { type: 'string', default: process.env.BENCH_ZEN_MB ?? '200' },
      'latency-sec': { type: 'string', default: '10' },
      'latency-rate': { type: 'string', default: '1000' },
      'cpu-prof': { type: 'boolean', default: false },
      runs: { type: 'string', default: '1' },
      'node-args': { type: 'string', default: '' },
    },
  });
  const positive = (key: keyof typeof values) => {
    const n = Number(values[key]);
    if (!(n > 0)) throw new Error(`--${key} must be a positive number`);
    return n;
  };
  return {
    emMb: positive('em-mb'),
    zenMb: positive('zen-mb'),
    latencySec: positive('latency-sec'),
    latencyRate: positive('latency-rate'),
    runs: Math.round(positive('runs')),
    cpuProf: values['cpu-prof'],
    nodeArgs: values['node-args'].split(/\s+/).filter(Boolean),
  };
}

const progress = (message: string) => console.error(`[bench ingest] ${message}`);

async function runBench(options: Options, tmp: string): Promise<number> {
  const loadAtStart = os.loadavg()[0]!;
  const emFolder = path.join(tmp, 'em', 'SmartSEM', 'Log');
  const zenFolder = path.join(tmp, 'lm', 'Logging');
  await mkdir(emFolder, { recursive: true });
  await mkdir(zenFolder, { recursive: true });

  progress(`generating ${options.emMb} MB EM Server.log and ${options.zenMb} MB ZEN.log.xml`);
  let t = performance.now();
  const em = await generateEmServerLog(path.join(emFolder, 'EM Server.log'), options.emMb * MB);
  const emGenSec = (performance.now() - t) / 1000;
  t = performance.now();
  const zen = await generateZenLog(path.join(zenFolder, 'ZEN.log.xml'), options.zenMb * MB);
  const zenGenSec = (performance.now() - t) / 1000;

  progress('baseline: reading the files');
  const emBase = await baseline(em.file);
  const zenBase = await baseline(zen.file);

  const zenPlan = await zenSources(zenFolder);
  const plans: Record<LogKey, IngestPlan | string> = {
    em: { kind: 'em', sources: { 'em-server': emFolder, 'smartsem-logs': null }, log: em },
    zen: typeof zenPlan === 'string' ? zenPlan : { kind: 'lm', sources: zenPlan, log: zen },
  };
  const ingest = async (key: LogKey): Promise<Outcome<IngestFigures>> => {
    const plan = plans[key];
    if (typeof plan === 'string') {
      progress(`agent ingest: ${LOG_NAMES[key]} skipped: ${plan}`);
      return { skipped: plan };
    }
    return attempt(async () => {
      const runs: (RunFigures & { machineMs: number })[] = [];
      for (let i = 1; i <= options.runs; i++) {
        progress(`agent ingest: ${LOG_NAMES[key]}, run ${i} of ${options.runs}`);
        const dir = path.join(tmp, `run-${key}-${i}`);
        const before = await machineReferenceMs();
        const run = await measureIngest({ ...plan, dir, launch: { nodeArgs: options.nodeArgs } });
        const machineMs = round((before + (await machineReferenceMs())) / 2, 0);
        runs.push({ ...run, machineMs });
        rmSync(dir, { recursive: true, force: true });
      }
      const median = [...runs].sort((a, b) => a.wallSec - b.wallSec)[(runs.length - 1) >> 1]!;
      return {
        ...median,
        runsWallSec: runs.map((r) => r.wallSec),
        runsMachineMs: runs.map((r) => r.machineMs),
      };
    });
  };
  const emIngest = await ingest('em');
  const zenIngest = await ingest('zen');

  progress(`latency: ${options.latencyRate} lines/s for ${options.latencySec} s`);
  const latency = await attempt(() =>
    measureLatency(path.join(tmp, 'latency'), options.latencySec, options.latencyRate, {
      nodeArgs: options.nodeArgs,
    }),
  );

  let cpuProfile: Record<LogKey, Outcome<ThreadProfile[]>> | undefined;
  if (options.cpuProf) {
    // The agent's bundle and its parse worker, each with its source map beside it.
    const sourceMaps = await builtSourceMaps(path.join(ROOT, 'out/agent'));
    const profile = async (key: LogKey): Promise<Outcome<ThreadProfile[]>> => {
      const plan = plans[key];
      if (typeof plan === 'string') return { skipped: plan };
      progress(`profiling the agent on ${LOG_NAMES[key]} (a separate run; figures not used)`);
      const dir = path.join(tmp, `profile-${key}`);
      const profileDir = path.join(dir, 'cpu');
      return attempt(async () => {
        await measureIngest({
          ...plan,
          dir,
          launch: { nodeArgs: [...options.nodeArgs, '--cpu-prof', '--cpu-prof-dir', profileDir] },
        });
        return summariseProfiles(profileDir, sourceMaps, ROOT, 20);
      });
    };
    cpuProfile = { em: await profile('em'), zen: await profile('zen') };
  }

  const results = {
    bench: 'ingest',
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    // Other work on the machine skews every figure here; this shows whether there was any.
    loadAverage: { start: round(loadAtStart, 2), end: round(os.loadavg()[0]!, 2) },
    files: {
      em: { ...describeLog(em), generateSec: round(emGenSec, 2) },
      zen: { ...describeLog(zen), generateSec: round(zenGenSec, 2) },
    },
    baseline: { em: emBase, zen: zenBase },
    ingest: { em: emIngest, zen: zenIngest },
    latency,
    targets: targetChecks({ em: emIngest, zen: zenIngest }, latency),
    ...(cpuProfile ? { cpuProfile } : {}),
  };
  printReport(results);
  console.log(JSON.stringify(results));
  const outcomes = [emIngest, zenIngest, latency, ...Object.values(cpuProfile ?? {})];
  const failed = outcomes.some((o) => 'error' in o);
  return failed ? 1 : 0;
}

/** A phase that fails is reported as failed; the other phases still run. */
async function attempt<T>(phase: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: await phase() };
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    progress(`FAILED: ${message}`);
    return { error: message };
  }
}

function describeLog(log: GeneratedLog) {
  return {
    bytes: log.bytes,
    lines: log.lines,
    entries: log.entries,
    expectedItems: log.expectedItems,
  };
}

/** The ceiling for any tail-and-parse: 4 MiB reads alone, then with a scan for line feeds. */
async function baseline(file: string): Promise<Baseline> {
  const buffer = Buffer.alloc(READ_CHUNK);
  const pass = async (split: boolean) => {
    const handle = await open(file, 'r');
    const started = performance.now();
    let bytes = 0;
    let lines = 0;
    try {
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, bytes);
        if (bytesRead === 0) break;
        bytes += bytesRead;
        if (!split) continue;
        const chunk = bytesRead === READ_CHUNK ? buffer : buffer.subarray(0, bytesRead);
        for (let at = chunk.indexOf(0x0a); at >= 0; at = chunk.indexOf(0x0a, at + 1)) lines++;
      }
    } finally {
      await handle.close();
    }
    return { mbps: bytes / MB / ((performance.now() - started) / 1000), lines };
  };
  // Best of two: the first pass also pays for warming up the JIT.
  const best = async (split: boolean) => {
    const [a, b] = [await pass(split), await pass(split)];
    return a.mbps > b.mbps ? a : b;
  };
  const read = await best(false);
  const split = await best(true);
  return { readMBps: round(read.mbps, 0), splitMBps: round(split.mbps, 0), lines: split.lines };
}

async function zenSources(folder: string): Promise<Record<string, string | null> | string> {
  const file = path.join(ROOT, 'src-agent/profiles/lm.json');
  if (!existsSync(file)) return 'src-agent/profiles/lm.json does not exist (yet)';
  const profile = JSON.parse(await readFile(file, 'utf8')) as { sources?: { id: string }[] };
  const ids = (profile.sources ?? []).map((s) => s.id);
  if (!ids.includes('zen')) return `the lm profile has no "zen" source (it has ${ids.join(', ')})`;
  return Object.fromEntries(ids.map((id) => [id, id === 'zen' ? folder : null]));
}

interface IngestPlan {
  kind: 'em' | 'lm';
  sources: Record<string, string | null>;
  log: GeneratedLog;
}

interface IngestRun extends IngestPlan {
  dir: string;
  launch?: AgentLaunch;
}

/**
 * Spawn to all committed: done when the file's cursor has reached its size (cursors and
 * items commit together) and the newest seq no longer moves.
 */
async function measureIngest(run: IngestRun): Promise<RunFigures> {
  mkdirSync(run.dir, { recursive: true });
  const config = await writeAgentConfig({ dir: run.dir, kind: run.kind, sources: run.sources });
  const dbFile = path.join(run.dir, 'data', 'outbox.db');
  const started = performance.now();
  const agent = startAgent(config, run.launch);
  let reader: OutboxReader | null = null;
  try {
    let committedAt: number | null = null;
    let doneAt = 0;
    let firstItemAt: number | null = null;
    let last = { seq: -1, offset: -1 };
    let lastMove = started;
    let lastPoll = started;
    let wait = POLL_MS;
    for (;;) {
      await sleep(wait);
      if (agent.hasExited()) throw new Error(`the agent exited early:\n${agent.stderrTail()}`);
      const now = performance.now();
      if (now - lastMove > STALL_MS) {
        throw new Error(
          `no progress for ${STALL_MS / 1000} s (cursor at ${last.offset} of ${run.log.bytes} bytes):\n` +
            agent.stderrTail(),
        );
      }
      reader ??= existsSync(dbFile) ? await OutboxReader.open(dbFile) : null;
      // Until the agent has created its tables, there is nothing to read.
      const at = await reader?.get<{ seq: number; offset: number }>(PROGRESS_SQL).catch(() => null);
      if (!at) continue;
      if (at.seq > 0) firstItemAt ??= now;
      wait =
        firstItemAt === null
          ? POLL_MS
          : nextPollMs(run.log.bytes - at.offset, at.offset - last.offset, now - lastPoll);
      lastPoll = now;
      const moved = at.seq !== last.seq || at.offset !== last.offset;
      if (moved) lastMove = now;
      if (at.offset >= run.log.bytes) {
        if (committedAt !== null && at.seq === last.seq) {
          doneAt = committedAt;
          break;
        }
        committedAt = now;
      }
      last = at;
    }
    const proc = processFigures(agent.pid);
    const count = await reader!.get<{ n: number }>(COUNT_SQL);
    await reader!.close();
    reader = null;
    const exitCode = await stopCleanly(agent);
    const wallSec = (doneAt - started) / 1000;
    const steadyMs = firstItemAt === null ? 0 : doneAt - firstItemAt;
    const items = count?.n ?? 0;
    return {
      wallSec: round(wallSec, 2),
      firstItemSec: firstItemAt === null ? null : round((firstItemAt - started) / 1000, 2),
      items,
      itemsPerSec: Math.round(items / wallSec),
      steadyItemsPerSec: steadyMs >= MIN_STEADY_MS ? Math.round(items / (steadyMs / 1000)) : null,
      mbPerSec: round(run.log.bytes / MB / wallSec, 1),
      peakRssMb: proc ? round(proc.peakRss / MB, 0) : null,
      cpuSec: proc ? round(proc.cpuSec, 1) : null,
      itemsPerCpuSec: proc && proc.cpuSec > 0 ? Math.round(items / proc.cpuSec) : null,
      exitCode,
    };
  } finally {
    await reader?.close();
    await agent.stop();
  }
}

/**
 * The wait before the next poll: half the time the rate of the last interval foresees until
 * the end: an end that comes twice as soon as foreseen is still seen within POLL_MS.
 */
function nextPollMs(remainingBytes: number, movedBytes: number, elapsedMs: number): number {
  const rate = movedBytes / elapsedMs;
  if (!(rate > 0)) return POLL_MS;
  return Math.min(CRUISE_POLL_MS, Math.max(POLL_MS, remainingBytes / rate / 2));
}

// The newest seq stands in for the count while polling: nothing is acknowledged (no server),
// so they are equal, and counting walks the whole table, stealing the agent's disk and CPU.

/** Each line carries its index in its value, so its item can be told apart in the outbox. */
const LATENCY_BASE = 100_000;

/** Written-to-committed time of live lines appended to a log the agent already watches. */
async function measureLatency(
  dir: string,
  seconds: number,
  rate: number,
  launch: AgentLaunch,
): Promise<LatencyFigures> {
  const folder = path.join(dir, 'SmartSEM', 'Log');
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, 'EM Server.log');
  writeFileSync(file, '');
  const config = await writeAgentConfig({
    dir,
    kind: 'em',
    sources: { 'em-server': folder, 'smartsem-logs': null },
  });
  const agent = startAgent(config, launch);
  let reader: OutboxReader | null = null;
  try {
    await waitUntilStarted(agent, dir);
    // The status does not say when the file watcher is ready; give it a moment.
    await sleep(1000);
    reader = await OutboxReader.open(path.join(dir, 'data', 'outbox.db'));

    const total = Math.max(2, Math.round(seconds * rate));
    const written = new Float64Array(total).fill(NaN);
    const committed = new Float64Array(total).fill(NaN);
    let seen = 0;
    let writing = true;
    const poller = (async () => {
      let afterSeq = 0;
      let quietUntil = Infinity;
      while (seen < total && performance.now() < quietUntil) {
        const rows = await itemsAfter(reader!, afterSeq);
        const now = performance.now();
        for (const row of rows) {
          afterSeq = row.seq;
          const i = (JSON.parse(row.body) as { value: number }).value - LATENCY_BASE;
          if (i >= 0 && i < total && Number.isNaN(committed[i]!)) {
            committed[i] = now;
            seen++;
          }
        }
        if (!writing && quietUntil === Infinity) quietUntil = now + 5000;
        await sleep(LATENCY_POLL_MS);
      }
    })();
    // Awaited once the writing is done; until then a failure must not count as unhandled.
    poller.catch(() => undefined);

    const fd = openSync(file, 'a');
    try {
      const start = performance.now();
      let next = 0;
      while (next < total) {
        const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
        for (; next < due; next++) {
          const line = emLine(
            Date.now(),
            'INFO',
            'System',
            `Operating Hours = ${LATENCY_BASE + next} Hours`,
          );
          writeSync(fd, Buffer.from(line, 'latin1'));
          written[next] = performance.now();
        }
        await sleep(1);
      }
    } finally {
      closeSync(fd);
      writing = false;
    }
    await poller;
    await stopCleanly(agent);

    // The last line waits for the settle time, not for its successor: left out.
    const latencies: number[] = [];
    for (let i = 0; i < total - 1; i++) {
      const ms = committed[i]! - written[i]!;
      if (!Number.isNaN(ms)) latencies.push(ms);
    }
    latencies.sort((a, b) => a - b);
    return {
      lines: total,
      measured: latencies.length,
      missing: total - 1 - latencies.length,
      p50Ms: round(percentile(latencies, 50), 1),
      p95Ms: round(percentile(latencies, 95), 1),
      p99Ms: round(percentile(latencies, 99), 1),
      maxMs: round(latencies[latencies.length - 1] ?? NaN, 1),
    };
  } finally {
    await reader?.close();
    await agent.stop();
  }
}

/** Started: it has published a status and created its outbox. */
async function waitUntilStarted(agent: AgentProcess, dir: string): Promise<void> {
  const deadline = performance.now() + STALL_MS;
  const files = ['status.json', 'outbox.db'].map((f) => path.join(dir, 'data', f));
  while (!files.every((f) => existsSync(f))) {
    if (agent.hasExited()) throw new Error(`the agent exited early:\n${agent.stderrTail()}`);
    if (performance.now() > deadline) throw new Error('the agent did not start within 60 s');
    await sleep(50);
  }
}

async function stopCleanly(agent: AgentProcess): Promise<number> {
  const code = await agent.stop();
  if (code !== 0)
    throw new Error(`the agent exited with ${code} on SIGTERM:\n${agent.stderrTail()}`);
  return code;
}

/** Nearest rank. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface TargetCheck {
  target: string;
  subject: string;
  value: number | null;
  met: boolean | null;
}

function targetChecks(
  ingest: Record<LogKey, Outcome<IngestFigures>>,
  latency: Outcome<LatencyFigures>,
): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const check = (target: string, subject: string, value: number | null, met: boolean | null) =>
    checks.push({ target, subject, value, met });
  for (const key of LOG_KEYS) {
    const run = ingest[key];
    const subject = LOG_NAMES[key];
    const f = 'ok' in run ? run.ok : null;
    check(
      `items/s >= ${TARGETS.itemsPerSec}`,
      subject,
      f?.itemsPerSec ?? null,
      f ? f.itemsPerSec >= TARGETS.itemsPerSec : null,
    );
    check(
      `MB/s >= ${TARGETS.mbPerSec}`,
      subject,
      f?.mbPerSec ?? null,
      f ? f.mbPerSec >= TARGETS.mbPerSec : null,
    );
  }
  const l = 'ok' in latency ? latency.ok : null;
  check(
    `p99 latency <= ${TARGETS.p99Ms} ms`,
    'live EM lines',
    l?.p99Ms ?? null,
    l ? l.missing === 0 && l.p99Ms <= TARGETS.p99Ms : null,
  );
  return checks;
}

type LogKey = 'em' | 'zen';
const LOG_KEYS: readonly LogKey[] = ['em', 'zen'];
const LOG_NAMES: Record<LogKey, string> = { em: 'EM Server.log', zen: 'ZEN.log.xml' };

interface Results {
  node: string;
  cpus: number;
  loadAverage: { start: number; end: number };
  files: Record<LogKey, ReturnType<typeof describeLog> & { generateSec: number }>;
  baseline: Record<LogKey, Baseline>;
  ingest: Record<LogKey, Outcome<IngestFigures>>;
  latency: Outcome<LatencyFigures>;
  targets: TargetCheck[];
  cpuProfile?: Record<LogKey, Outcome<ThreadProfile[]>>;
}

function printReport(r: Results): void {
  const out: string[] = [];
  const p = (line = '') => out.push(line);
  const notOk = (o: { skipped: string } | { error: string }) =>
    'skipped' in o ? `skipped: ${o.skipped}` : `FAILED: ${o.error}`;
  p(`ScopeLink ingest bench   node ${r.node}, ${r.cpus} CPUs, MB = 10^6 bytes`);
  p(
    `load average (1 min) ${fix(r.loadAverage.start, 2)} at the start, ` +
      `${fix(r.loadAverage.end, 2)} at the end`,
  );
  p();
  p('files (generated)');
  for (const key of LOG_KEYS) {
    const f = r.files[key];
    const expected = f.expectedItems === null ? '' : `, ${int(f.expectedItems)} items expected`;
    p(
      `  ${LOG_NAMES[key].padEnd(14)} ${fix(f.bytes / MB, 1).padStart(7)} MB  ${int(f.lines)} lines, ` +
        `${int(f.entries)} entries${expected}  (${fix(f.generateSec, 1)} s)`,
    );
  }
  p();
  p('baseline (same files, page cache, 4 MiB reads)');
  for (const key of LOG_KEYS) {
    const b = r.baseline[key];
    p(
      `  ${LOG_NAMES[key].padEnd(14)} read ${int(b.readMBps).padStart(6)} MB/s   ` +
        `read + split at LF ${int(b.splitMBps).padStart(6)} MB/s`,
    );
  }
  p();
  p('agent ingest (spawn to all committed)');
  for (const key of LOG_KEYS) {
    const o = r.ingest[key];
    if (!('ok' in o)) {
      p(`  ${LOG_NAMES[key].padEnd(14)} ${notOk(o)}`);
      continue;
    }
    const f = o.ok;
    const b = r.baseline[key];
    const expected = r.files[key].expectedItems;
    const check =
      expected === null
        ? ''
        : f.items === expected
          ? ' (as expected)'
          : ` (MISMATCH: expected ${int(expected)})`;
    p(`  ${LOG_NAMES[key].padEnd(14)} ${fix(f.wallSec, 2)} s`);
    if (f.runsWallSec.length > 1) {
      p(`    runs         ${f.runsWallSec.map((s) => fix(s, 2)).join(', ')} s (median shown)`);
    }
    p(
      `    machine      reference ${f.runsMachineMs.map((ms) => int(ms)).join(', ')} ms ` +
        '(fixed work on every core around each run; lower is faster)',
    );
    p(`    items        ${int(f.items)}${check}`);
    p(`    throughput   ${int(f.itemsPerSec)} items/s, ${fix(f.mbPerSec, 1)} MB/s`);
    p(
      `    start-up     first item after ${fix(f.firstItemSec, 2)} s; ` +
        `from then on ${f.steadyItemsPerSec === null ? 'n/a' : int(f.steadyItemsPerSec)} items/s`,
    );
    p(
      `    vs baseline  ${pct(f.mbPerSec / b.splitMBps)} of read + split, ` +
        `${pct(f.mbPerSec / b.readMBps)} of read`,
    );
    p(
      `    agent        peak RSS ${f.peakRssMb === null ? 'n/a' : `${int(f.peakRssMb)} MB`}, ` +
        `CPU ${f.cpuSec === null ? 'n/a' : `${fix(f.cpuSec, 1)} s`}, exit ${f.exitCode} on SIGTERM`,
    );
    if (f.itemsPerCpuSec !== null) {
      p(`    per CPU      ${int(f.itemsPerCpuSec)} items per second of the agent's CPU time`);
    }
  }
  p();
  if ('ok' in r.latency) {
    const l = r.latency.ok;
    p(`latency (written to committed, ${int(l.measured)} of ${int(l.lines)} lines measured)`);
    p(
      `  p50 ${fix(l.p50Ms, 1)} ms   p95 ${fix(l.p95Ms, 1)} ms   p99 ${fix(l.p99Ms, 1)} ms   ` +
        `max ${fix(l.maxMs, 1)} ms   missing ${l.missing}`,
    );
  } else {
    p(`latency  ${notOk(r.latency)}`);
  }
  p();
  p('targets');
  for (const t of r.targets) {
    const verdict = t.met === null ? 'n/a' : t.met ? 'met' : 'MISSED';
    const value = t.value === null ? '' : ` (${fix(t.value, 1)})`;
    p(`  ${t.target.padEnd(24)} ${t.subject.padEnd(14)} ${verdict}${value}`);
  }
  for (const key of r.cpuProfile ? LOG_KEYS : []) {
    const o = r.cpuProfile![key];
    p();
    if (!('ok' in o)) {
      p(`agent CPU profile, ${LOG_NAMES[key]}: ${notOk(o)}`);
      continue;
    }
    for (const { thread, functions } of o.ok) {
      p(`agent CPU profile, ${LOG_NAMES[key]}: top self time on the ${thread}`);
      for (const h of functions) {
        p(
          `  ${fix(h.selfMs, 0).padStart(7)} ms ${pct(h.share).padStart(6)}  ${h.name}  ${h.where}`,
        );
      }
    }
  }
  console.log(out.join('\n'));
}

const round = (n: number, digits: number) => Number(n.toFixed(digits));
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fix = (n: number | null, digits: number) => (n === null ? 'n/a' : n.toFixed(digits));
const pct = (share: number) => `${(share * 100).toFixed(1)}%`;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exit(await main(process.argv.slice(2)));
}
