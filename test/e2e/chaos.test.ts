// The chaos test of the delivery rules: while the instrument software keeps appending to its
// log, the agent and the server are killed (SIGKILL, no chance to clean up) at random moments
// and restarted. Every line carries a unique number N (1, 2, 3, ...) that becomes one item's
// value, so "nothing lost, nothing duplicated" is exactly: the server holds each of 1..N once.
// The schedule comes from a seeded PRNG; CHAOS_SEED replays a failing run's rounds.
import { randomInt } from 'node:crypto';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import iconv from 'iconv-lite';
import { expect, it, onTestFailed } from 'vitest';
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
  type TestServer,
} from '../helpers/processes.ts';
import { operatingHoursLine } from '../helpers/em-lines.ts';

const ROUNDS = 20;
const DEVICE = 'EM-CHAOS';
const ITEM = 'system.operating_hours';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** mulberry32: small, fast and good enough to make a schedule replayable from one number. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer from `min` to `max`, both included. */
const between = (random: () => number, min: number, max: number) =>
  min + Math.floor(random() * (max - min + 1));

/**
 * A port that was free a moment ago. The server must come back on the same URL after each
 * kill (the agent's serverUrl is fixed), so it cannot be given port 0.
 */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', resolve);
  });
  const address = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port from listen(0)');
  return address.port;
}

/** The instrument software: small random batches of EM Server.log lines every 2-5 ms. */
class Writer {
  written = 0;
  private writing = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly handle: FileHandle,
    private readonly random: () => number,
  ) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    while (this.writing) {
      let text = '';
      for (let i = between(this.random, 1, 5); i > 0; i--) {
        text += operatingHoursLine(++this.written);
      }
      // One write per batch: the agent may catch a batch half-written, never a line torn
      // across two writes of ours.
      await this.handle.write(iconv.encode(text, 'cp1252'));
      await sleep(between(this.random, 2, 5));
    }
  }

  async stop(): Promise<number> {
    this.writing = false;
    await this.done;
    return this.written;
  }
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

const alive = (proc: Running) => proc.child.exitCode === null && proc.child.signalCode === null;

it(
  'delivers every line exactly once while the agent and the server are killed at random',
  async () => {
    const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) >>> 0 : randomInt(2 ** 32);
    console.log(`chaos: seed ${seed} (replay with CHAOS_SEED=${seed})`);
    // Two generators: the writer's pace varies with the machine, and must not shift the
    // kill schedule, which should be the same on every replay of a seed.
    const schedule = prng(seed);
    const batches = prng(seed ^ 0x9e3779b9);

    const dir = await tempDir('chaos');
    let server: TestServer | null = null;
    let agent: Running | null = null;
    let writer: Writer | null = null;
    let logHandle: FileHandle | null = null;
    // Every process started, so a failure can show what each of them logged.
    const runs: { name: string; proc: Running }[] = [];
    onTestFailed(() => {
      for (const { name, proc } of runs.slice(-6)) {
        console.error(`--- ${name} ---\n${proc.stderr().slice(-8000)}`);
      }
    });

    try {
      const port = await freePort();
      const serverDir = path.join(dir, 'server');
      const startTheServer = async () => {
        // The data dir (items, devices, the CA made on the first run) survives every kill.
        const started = await startServer(serverDir, `127.0.0.1:${port}`);
        runs.push({ name: `server run ${runs.length + 1}`, proc: started });
        return started;
      };
      server = await startTheServer();
      const token = await addDevice(serverDir, DEVICE);

      const logs = path.join(dir, 'SmartSEM', 'Log');
      await mkdir(logs, { recursive: true });
      logHandle = await open(path.join(logs, 'EM Server.log'), 'a');
      const config = await writeAgentConfig(dir, {
        serverUrl: server.url,
        caFile: server.caFile,
        dataDir: 'agent-data',
        device: { id: DEVICE, kind: 'em', model: 'GeminiSEM 560' },
        sources: { 'em-server': { folder: logs }, 'smartsem-logs': { enabled: false } },
        collect: { pollIntervalSec: 0.2, backfill: { maxAgeDays: 0, maxBytes: 0 } },
      });
      const startTheAgent = () => {
        const started = startProcess(AGENT_BIN, ['run', '--config', config], {
          SCOPELINK_DEVICE_TOKEN: token,
        });
        runs.push({ name: `agent run ${runs.length + 1}`, proc: started });
        return started;
      };
      agent = startTheAgent();
      // The chaos starts from a working pair, so a set-up problem is not mistaken for a loss.
      await waitFor(
        async () => (await agentStatus(config)).connection.state === 'connected' || undefined,
        30_000,
        'the agent to connect',
      );

      writer = new Writer(logHandle, batches);
      for (let round = 1; round <= ROUNDS; round++) {
        const killAt = between(schedule, 200, 1500);
        const pick = schedule();
        const victims = pick < 0.4 ? 'agent' : pick < 0.8 ? 'server' : 'agent and server';
        const downFor = between(schedule, 100, 800);
        await sleep(killAt);
        const killAgent = victims !== 'server';
        const killServer = victims !== 'agent';
        await Promise.all([
          killAgent && stop(agent, 'SIGKILL'),
          killServer && stop(server, 'SIGKILL'),
        ]);
        await sleep(downFor);
        if (killServer) server = await startTheServer();
        if (killAgent) agent = startTheAgent();
        console.log(
          `round ${round}: killed ${victims} at ${killAt} ms, restarted after ${downFor} ms; written ${writer.written}`,
        );
      }

      const written = await writer.stop();
      writer = null;
      // An agent that died on its own (not by our hand) would make the wait below time out
      // with no hint why; say so at once.
      expect(alive(agent), `the agent exited: ${agent.stderr().slice(-2000)}`).toBe(true);
      expect(alive(server), `the server exited: ${server.stderr().slice(-2000)}`).toBe(true);

      // `>=`, not `===`: with a duplicate the count would never match and the wait would only
      // time out; the comparison below says what is wrong.
      const drainStart = Date.now();
      const drained = await waitFor(
        async () => {
          const stored = (await serverItems(serverDir)).filter((i) => i.device === DEVICE);
          if (stored.length < written) return undefined;
          return (await agentStatus(config)).outbox.pending === 0 || undefined;
        },
        60_000,
        `${written} items at the server and an empty outbox`,
      ).catch(() => false);
      // How long the last reconnect (its backoff) and the resend took: the margin of the wait.
      console.log(
        `chaos: ${drained ? 'caught up' : 'still not caught up'} ${Date.now() - drainStart} ms after the writer stopped`,
      );
      // A late resend would arrive now, if there were one.
      await sleep(1500);

      const items = (await serverItems(serverDir)).filter((i) => i.device === DEVICE);
      const seen = new Map<number, number>();
      const unexpected: string[] = [];
      for (const item of items) {
        const n = item.value;
        if (
          item.name !== ITEM ||
          typeof n !== 'number' ||
          !Number.isInteger(n) ||
          n < 1 ||
          n > written
        ) {
          unexpected.push(`${item.name}=${JSON.stringify(item.value)}`);
        } else {
          seen.set(n, (seen.get(n) ?? 0) + 1);
        }
      }
      const missing: number[] = [];
      const duplicated: number[] = [];
      for (let n = 1; n <= written; n++) {
        const times = seen.get(n) ?? 0;
        if (times === 0) missing.push(n);
        for (let extra = 1; extra < times; extra++) duplicated.push(n);
      }
      const seqs = new Map<string, number>();
      for (const item of items) {
        const key = `${item.stream}/${item.seq}`;
        seqs.set(key, (seqs.get(key) ?? 0) + 1);
      }
      const seqTwice = [...seqs].filter(([, times]) => times > 1).map(([key]) => key);

      console.log(
        `chaos: ${ROUNDS} rounds, ${written} lines written, ${items.length} items stored, ` +
          `${missing.length} lost, ${duplicated.length} duplicated`,
      );
      expect({
        missing: ranges(missing),
        duplicated: ranges(duplicated),
        unexpected: unexpected.slice(0, 20),
        seqTwice: seqTwice.slice(0, 20),
      }).toEqual({ missing: '', duplicated: '', unexpected: [], seqTwice: [] });
      expect(items).toHaveLength(written);
    } finally {
      // Each step on its own: one failing must not leave a process or the temp dir behind.
      await writer?.stop().catch(() => undefined);
      await logHandle?.close().catch(() => undefined);
      if (agent) await stop(agent, 'SIGKILL').catch(() => undefined);
      if (server) await stop(server, 'SIGKILL').catch(() => undefined);
      await removeDir(dir).catch(() => undefined);
    }
  },
  // 20 rounds take about 40 s; the drain may wait out a reconnect backoff of several seconds.
  180_000,
);
