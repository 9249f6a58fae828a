// End-to-end latency bench: a log line written on the microscope PC to its item committed
// in the server's database, with the real agent and the real server as separate processes
// over loopback TLS, at a steady rate of live lines.
//
//   npm run bench -- e2e [--rate 1000] [--seconds 15] [--warmup 1]
//   node bin/run-ts.js bench/e2e.ts
//
// Each line carries a unique value; the bench polls the server's database (read-only) for
// it. The figures are printed; the last line is the same as one JSON object. Exit 0 even
// when the target is missed; non-zero only when a measurement could not be made.
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { SqliteDb } from '../src-agent/outbox/sqlite.ts';
import { addDevice } from '../test/helpers/processes.ts';
import {
  DEVICE_ID,
  fix,
  int,
  openReadOnly,
  percentile,
  procSample,
  round,
  startAgent,
  startServerProcess,
  withScratch,
  writeAgentConfig,
  type NodeProcess,
} from './drain.ts';
import { emLine } from './ingest/generate.ts';
import { itemsAfter } from './outbox-rows.ts';

/** Fast enough that the poll adds little to a latency of tens of milliseconds. */
const POLL_MS = 5;
/** After the last line, how long to wait for stragglers before calling them missing. */
const SETTLE_MS = 5000;
const START_TIMEOUT_MS = 60_000;
/** Each line's value is this plus its index, so its item can be found at the server. */
const VALUE_BASE = 100_000_000;

const TARGETS = { p99Ms: 150 };

interface Options {
  rate: number;
  seconds: number;
  warmup: number;
}

interface Distribution {
  measured: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export async function main(args: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(args);
  } catch (err) {
    console.error(`bench e2e: ${(err as Error).message}`);
    return 2;
  }
  return withScratch('e2e', (tmp) => runBench(options, tmp));
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      rate: { type: 'string', default: '1000' },
      seconds: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '1' },
    },
  });
  const number = (key: keyof typeof values, min: number) => {
    const n = Number(values[key]);
    if (!(n >= min)) throw new Error(`--${key} must be a number of at least ${min}`);
    return n;
  };
  const options = {
    rate: number('rate', 1),
    seconds: number('seconds', 1),
    warmup: number('warmup', 0),
  };
  if (options.warmup >= options.seconds) throw new Error('--warmup must be less than --seconds');
  return options;
}

const progress = (message: string) => console.error(`[bench e2e] ${message}`);

async function runBench(options: Options, tmp: string): Promise<number> {
  const loadAtStart = os.loadavg()[0]!;
  const serverDir = path.join(tmp, 'server');
  const token = await addDevice(serverDir, DEVICE_ID);
  const server = await startServerProcess(serverDir, '127.0.0.1:0');
  const logFolder = path.join(tmp, 'SmartSEM', 'Log');
  await mkdir(logFolder, { recursive: true });
  const logFile = path.join(logFolder, 'EM Server.log');
  writeFileSync(logFile, '');
  const agentDir = path.join(tmp, 'agent');
  // The shipped defaults otherwise: this is the agent as a lab runs it.
  const config = await writeAgentConfig({
    dir: agentDir,
    serverUrl: server.url,
    caFile: server.caFile,
    logFolder,
  });
  const agent = startAgent(config, token);
  let store: SqliteDb | null = null;
  let outbox: SqliteDb | null = null;
  try {
    await waitUntilConnected(agent, path.join(agentDir, 'data', 'status.json'));
    // The status does not say when the file watcher is ready; give it a moment.
    await sleep(1000);
    store = await openReadOnly(path.join(serverDir, 'server.db'));
    outbox = await openReadOnly(path.join(agentDir, 'data', 'outbox.db'));
    progress(`writing ${options.rate} lines/s for ${options.seconds} s`);
    const run = await measure(store, outbox, logFile, options);
    const agentFigures = procSample(agent.pid);
    const serverFigures = procSample(server.pid);
    const agentExit = await agent.stop();
    const serverExit = await server.stop();
    if (agentExit !== 0) throw new Error(`the agent exited with ${agentExit} on SIGTERM`);

    const results = {
      bench: 'e2e',
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      loadAverage: { start: round(loadAtStart, 2), end: round(os.loadavg()[0]!, 2) },
      options,
      lines: run.lines,
      warmupLines: run.warmupLines,
      missing: run.missing,
      /** Written to visible in the server's database: an upper bound (the poll adds up to 5 ms). */
      committed: run.committed,
      /** Written to the server's received_at, taken as the frame's transaction begins: a lower bound. */
      receivedAt: run.receivedAt,
      stages: { inOutbox: run.inOutbox, outboxToServer: run.outboxToServer },
      agent: agentFigures && {
        peakRssMb: round(agentFigures.hwm / 1e6, 0),
        cpuSec: round(agentFigures.cpuSec, 1),
      },
      server: serverFigures && {
        peakRssMb: round(serverFigures.hwm / 1e6, 0),
        cpuSec: round(serverFigures.cpuSec, 1),
      },
      serverExit,
      targets: [
        {
          target: `p99 <= ${TARGETS.p99Ms} ms`,
          value: run.committed.p99Ms,
          met: run.missing === 0 && run.committed.p99Ms <= TARGETS.p99Ms,
        },
      ],
    };
    printReport(results);
    console.log(JSON.stringify(results));
    return 0;
  } finally {
    await store?.close();
    await outbox?.close();
    await agent.stop();
    await server.stop();
  }
}

/** Connected: its status file says so (the agent publishes it every second). */
async function waitUntilConnected(agent: NodeProcess, statusFile: string): Promise<void> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  for (;;) {
    const status = await readFile(statusFile, 'utf8')
      .then((text) => JSON.parse(text) as { connection?: { state?: string } })
      .catch(() => null);
    if (status?.connection?.state === 'connected') return;
    if (agent.hasExited()) throw new Error(`the agent exited early:\n${agent.stderrTail()}`);
    if (performance.now() > deadline) {
      throw new Error(
        `the agent did not connect within ${START_TIMEOUT_MS / 1000} s ` +
          `(${status?.connection?.state ?? 'no status'}):\n${agent.stderrTail()}`,
      );
    }
    await sleep(50);
  }
}

interface RunFigures {
  lines: number;
  warmupLines: number;
  missing: number;
  committed: Distribution;
  receivedAt: Distribution;
  /** Written to seen in the agent's outbox (only lines seen there before their ack). */
  inOutbox: Distribution;
  /** Seen in the agent's outbox to visible at the server, for the same lines. */
  outboxToServer: Distribution;
}

async function measure(
  store: SqliteDb,
  outbox: SqliteDb,
  logFile: string,
  options: Options,
): Promise<RunFigures> {
  const total = Math.max(2, Math.round(options.seconds * options.rate));
  const warmupLines = Math.min(total - 1, Math.round(options.warmup * options.rate));
  // performance.now() for the time seen, Date.now() to compare with the server's wall clock.
  const written = new Float64Array(total).fill(NaN);
  const writtenWall = new Float64Array(total).fill(NaN);
  const seen = new Float64Array(total).fill(NaN);
  const received = new Float64Array(total).fill(NaN);
  const queued = new Float64Array(total).fill(NaN);
  let found = 0;
  let writing = true;
  // Once writing is done, the pollers wait this long for stragglers.
  let settleAt = Infinity;
  const quiet = () => performance.now() > settleAt;

  // The agent's half: when each item shows up in its outbox. An item acknowledged (and
  // deleted) between two polls is never seen there, so this covers only part of the lines.
  const outboxPoller = (async () => {
    let afterSeq = 0;
    while (found < total && !quiet()) {
      const rows = await itemsAfter(outbox, afterSeq);
      const now = performance.now();
      for (const row of rows) {
        afterSeq = row.seq;
        const { value } = JSON.parse(row.body) as { value: unknown };
        const i = typeof value === 'number' ? value - VALUE_BASE : -1;
        if (i >= 0 && i < total) queued[i] = now;
      }
      await sleep(POLL_MS);
    }
  })();
  outboxPoller.catch(() => undefined);

  const poller = (async () => {
    let afterRow = 0;
    while (found < total && !quiet()) {
      const rows = await store.all<{ row: number; value: string; received_at: string }>(
        `SELECT rowid AS row, body -> '$.value' AS value, received_at FROM items
         WHERE stream_id IN (SELECT id FROM streams WHERE device_id = ?) AND rowid > ?
         ORDER BY rowid`,
        [DEVICE_ID, afterRow],
      );
      const now = performance.now();
      for (const row of rows) {
        afterRow = row.row;
        const i = Number(row.value) - VALUE_BASE;
        if (Number.isInteger(i) && i >= 0 && i < total && Number.isNaN(seen[i]!)) {
          seen[i] = now;
          received[i] = Date.parse(row.received_at);
          found++;
        }
      }
      if (!writing && settleAt === Infinity) settleAt = now + SETTLE_MS;
      await sleep(POLL_MS);
    }
  })();
  // Awaited once the writing is done; until then a failure must not count as unhandled.
  poller.catch(() => undefined);

  const fd = openSync(logFile, 'a');
  try {
    const start = performance.now();
    let next = 0;
    while (next < total) {
      const due = Math.min(
        total,
        Math.floor(((performance.now() - start) * options.rate) / 1000) + 1,
      );
      for (; next < due; next++) {
        const line = emLine(
          Date.now(),
          'INFO',
          'System',
          `Operating Hours = ${VALUE_BASE + next} Hours`,
        );
        writeSync(fd, Buffer.from(line, 'latin1'));
        written[next] = performance.now();
        writtenWall[next] = Date.now();
      }
      await sleep(1);
    }
  } finally {
    closeSync(fd);
    writing = false;
  }
  await poller;
  settleAt = 0;
  await outboxPoller;

  // Warm-up lines are left out, and so is the last line: it waits for the settle time of
  // an entry that nothing follows, not for the pipeline.
  const committed: number[] = [];
  const receivedAt: number[] = [];
  const inOutbox: number[] = [];
  const outboxToServer: number[] = [];
  let missing = 0;
  for (let i = warmupLines; i < total - 1; i++) {
    if (Number.isNaN(seen[i]!)) {
      missing++;
      continue;
    }
    committed.push(seen[i]! - written[i]!);
    receivedAt.push(received[i]! - writtenWall[i]!);
    if (!Number.isNaN(queued[i]!)) {
      inOutbox.push(queued[i]! - written[i]!);
      outboxToServer.push(seen[i]! - queued[i]!);
    }
  }
  return {
    lines: total,
    warmupLines,
    missing,
    committed: distribution(committed),
    receivedAt: distribution(receivedAt),
    inOutbox: distribution(inOutbox),
    outboxToServer: distribution(outboxToServer),
  };
}

function distribution(values: number[]): Distribution {
  values.sort((a, b) => a - b);
  return {
    measured: values.length,
    p50Ms: round(percentile(values, 50), 1),
    p95Ms: round(percentile(values, 95), 1),
    p99Ms: round(percentile(values, 99), 1),
    maxMs: round(values[values.length - 1] ?? NaN, 1),
  };
}

interface Results {
  node: string;
  cpus: number;
  loadAverage: { start: number; end: number };
  options: Options;
  lines: number;
  warmupLines: number;
  missing: number;
  committed: Distribution;
  receivedAt: Distribution;
  stages: { inOutbox: Distribution; outboxToServer: Distribution };
  agent: { peakRssMb: number; cpuSec: number } | null;
  server: { peakRssMb: number; cpuSec: number } | null;
  targets: { target: string; value: number; met: boolean }[];
}

function printReport(r: Results): void {
  const out: string[] = [];
  const p = (line = '') => out.push(line);
  const row = (d: Distribution) =>
    `p50 ${fix(d.p50Ms, 1)} ms   p95 ${fix(d.p95Ms, 1)} ms   p99 ${fix(d.p99Ms, 1)} ms   ` +
    `max ${fix(d.maxMs, 1)} ms`;
  p(`ScopeLink end-to-end latency bench   node ${r.node}, ${r.cpus} CPUs`);
  p(
    `load average (1 min) ${fix(r.loadAverage.start, 2)} at the start, ` +
      `${fix(r.loadAverage.end, 2)} at the end`,
  );
  p();
  p(
    `${int(r.lines)} lines at ${int(r.options.rate)} lines/s for ${r.options.seconds} s, ` +
      `one item each; the first ${int(r.warmupLines)} (warm-up) and the last left out`,
  );
  p(`  measured ${int(r.committed.measured)}, missing ${r.missing}`);
  p();
  p('line written -> item committed at the server');
  p(`  visible in the server's database (upper bound, 5 ms polls)`);
  p(`    ${row(r.committed)}`);
  p(`  the server's received_at (lower bound: taken as the frame's transaction begins)`);
  p(`    ${row(r.receivedAt)}`);
  p(
    `stages, for the ${int(r.stages.inOutbox.measured)} lines seen in the agent's outbox ` +
      `before their ack deleted them`,
  );
  p(`  written -> agent outbox      ${row(r.stages.inOutbox)}`);
  p(`  agent outbox -> server       ${row(r.stages.outboxToServer)}`);
  p();
  if (r.agent) p(`agent   peak RSS ${int(r.agent.peakRssMb)} MB, CPU ${fix(r.agent.cpuSec, 1)} s`);
  if (r.server)
    p(`server  peak RSS ${int(r.server.peakRssMb)} MB, CPU ${fix(r.server.cpuSec, 1)} s`);
  p();
  p('targets');
  for (const t of r.targets) {
    p(`  ${t.target.padEnd(20)} ${t.met ? 'met' : 'NOT MET'} (${fix(t.value, 1)})`);
  }
  console.log(out.join('\n'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exit(await main(process.argv.slice(2)));
}
