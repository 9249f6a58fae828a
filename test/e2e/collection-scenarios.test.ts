// Log collection while the instrument software writes: the real server and the real agent
// process, and a test that appends, rotates, truncates, adds files and version folders and
// kills the agent under its feet. Every line written carries a unique number N (1, 2, 3, ...)
// that becomes one item's value, so "nothing lost, nothing duplicated" is exactly: the
// server holds each of 1..N once.
import { execFile } from 'node:child_process';
import {
  appendFile,
  copyFile,
  mkdir,
  open,
  rename,
  truncate,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import iconv from 'iconv-lite';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import {
  AGENT_BIN,
  SERVER_BIN,
  addDevice,
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

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  // Every cleanup runs, even when an earlier one fails, so no process outlives its test.
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

// One line per value, each producing exactly one item, in the vendors' formats (cp1252, CRLF).
const formats = {
  em: {
    item: 'system.operating_hours',
    line: operatingHoursLine,
  },
  tube: {
    item: 'xray.tube.kv',
    line: (n: number) => `11/30/2026 08:00:00, Tube, kV=${n}\r\n`,
  },
  xradia: {
    item: 'motion.sample_theta.moves',
    line: (n: number) =>
      `2026-11-30 08:00:00.000 [INFO ] [Motion] Axis SampleTheta move #${n} complete\r\n`,
  },
} as const;
type Format = (typeof formats)[keyof typeof formats];

/** Hands out the numbers 1, 2, 3, ... as encoded log lines; `written` is the highest so far. */
class Lines {
  written = 0;
  constructor(private readonly format: Format) {}

  next(count = 1): Buffer {
    let text = '';
    for (let i = 0; i < count; i++) text += this.format.line(++this.written);
    return iconv.encode(text, 'cp1252');
  }
}

interface Rig {
  dir: string;
  server: TestServer;
  /** The agent process started last. */
  agent: Running;
  /** Starts the agent (again); the previous process must have ended. */
  startAgent(): Running;
}

/** A temp dir, the server, a device and one agent reading `sources` of the `kind` profile. */
async function rig(
  kind: 'em' | 'xrm',
  sources: (dir: string) => Record<string, unknown>,
  prepare: (dir: string) => Promise<void> = async () => undefined,
): Promise<Rig> {
  const dir = await tempDir('scenario');
  cleanups.push(() => removeDir(dir));
  const server = await startServer(path.join(dir, 'server'));
  cleanups.push(() => stop(server));
  const deviceId = kind === 'em' ? 'EM-4711' : 'XRM-0042';
  const token = await addDevice(server.dataDir, deviceId);
  const config = await writeAgentConfig(dir, {
    serverUrl: server.url,
    caFile: server.caFile,
    dataDir: 'agent-data',
    device: { id: deviceId, kind },
    sources: sources(dir),
    collect: { pollIntervalSec: 0.2, backfill: { maxAgeDays: 0, maxBytes: 0 } },
  });
  await prepare(dir);
  const agents: Running[] = [];
  const startAgent = () => {
    const agent = startProcess(AGENT_BIN, ['run', '--config', config], {
      SCOPELINK_DEVICE_TOKEN: token,
    });
    agents.push(agent);
    cleanups.push(() => stop(agent));
    return agent;
  };
  // The agents' own logs (stderr) say what they saw: print them when a scenario fails.
  onTestFailed(() => {
    agents.forEach((a, i) =>
      console.error(`--- agent run ${i + 1} ---\n${a.stderr().slice(-20_000)}`),
    );
  });
  const self: Rig = {
    dir,
    server,
    agent: startAgent(),
    startAgent: () => (self.agent = startAgent()),
  };
  return self;
}

/** How many items the server stores, without listing them all. */
async function storedCount(dataDir: string): Promise<number> {
  const { stdout } = await run(process.execPath, [SERVER_BIN, 'stats', '--data-dir', dataDir]);
  const { devices } = JSON.parse(stdout) as { devices: { items: number }[] };
  return devices.reduce((sum, d) => sum + d.items, 0);
}

/** Waits until the server stores an item of `format` with value `n`. */
async function waitForValue(server: TestServer, format: Format, n: number): Promise<void> {
  await waitFor(
    async () => {
      const items = await serverItems(server.dataDir);
      return items.some((i) => i.name === format.item && i.value === n) ? true : undefined;
    },
    30_000,
    `${format.item} = ${n} at the server`,
  );
}

/** Waits until the server stores `count` items (or gives up after `timeoutMs`). */
async function waitForCount(server: TestServer, count: number, timeoutMs = 60_000) {
  return waitFor(
    async () => ((await storedCount(server.dataDir)) >= count ? true : undefined),
    timeoutMs,
    `${count} items at the server`,
  );
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

/**
 * The end of every scenario: once the server holds `total` items, and a little longer for
 * any late duplicate, the values of `format`'s item are exactly 1..total, each once.
 */
async function expectExactlyOnce(server: TestServer, format: Format, total: number) {
  // A timeout is not reported here: the comparison below says precisely what is missing.
  await waitForCount(server, total).catch(() => undefined);
  await sleep(1500);
  const items = await serverItems(server.dataDir);
  const seen = new Map<number, number>();
  const unexpected: string[] = [];
  for (const item of items) {
    const n = item.value;
    if (item.name !== format.item || typeof n !== 'number' || !(n >= 1 && n <= total)) {
      unexpected.push(`${item.name}=${JSON.stringify(item.value)}`);
    } else {
      seen.set(n, (seen.get(n) ?? 0) + 1);
    }
  }
  const missing: number[] = [];
  const duplicated: number[] = [];
  for (let n = 1; n <= total; n++) {
    const times = seen.get(n) ?? 0;
    if (times === 0) missing.push(n);
    if (times > 1) duplicated.push(n);
  }
  expect({
    missing: ranges(missing),
    duplicated: ranges(duplicated),
    unexpected: unexpected.slice(0, 20),
  }).toEqual({ missing: '', duplicated: '', unexpected: [] });
  expect(items).toHaveLength(total);
  expect(new Set(items.map((i) => `${i.stream}/${i.seq}`)).size).toBe(items.length);
}

const emSources = (dir: string) => ({
  'em-server': { folder: path.join(dir, 'Log') },
  'smartsem-logs': { enabled: false },
});

describe('collection while the logs are being written', () => {
  it('delivers 20,000 lines appended at a high rate exactly once', async () => {
    const lines = new Lines(formats.em);
    const { dir, server } = await rig('em', emSources, (d) => mkdir(path.join(d, 'Log')));
    const log = path.join(dir, 'Log', 'EM Server.log');
    // The agent is up and reading before the burst starts.
    await appendFile(log, lines.next());
    await waitForCount(server, lines.written, 30_000);
    // Many small appends, as fast as the file system takes them, while the agent reads.
    for (let chunk = 0; chunk < 400; chunk++) await appendFile(log, lines.next(50));
    expect(lines.written).toBe(20_001);
    await expectExactlyOnce(server, formats.em, lines.written);
  });

  it('follows rename rotation in mid-write, including lines written to the renamed file', async () => {
    const lines = new Lines(formats.em);
    const { dir, server } = await rig('em', emSources, (d) => mkdir(path.join(d, 'Log')));
    const log = path.join(dir, 'Log', 'EM Server.log');
    const rotated = (k: number) => `${log}.${k}`;
    // The writer holds the log open, as the instrument software does, and keeps writing to
    // it for a moment after the rename (its handle follows the file, not the name).
    let writer: FileHandle = await open(log, 'a');
    cleanups.push(() => writer.close());
    // A generation created and rotated away between two looks of the agent is invisible to
    // it; so before each rotation the agent must have seen the current generation at all.
    await writer.write(lines.next());
    await waitForValue(server, formats.em, lines.written);
    for (let rotation = 1; rotation <= 5; rotation++) {
      for (let chunk = 0; chunk < 10; chunk++) await writer.write(lines.next(20));
      // Older generations move up one number, as rolling appenders do.
      for (let k = rotation - 1; k >= 1; k--) await rename(rotated(k), rotated(k + 1));
      await rename(log, rotated(1));
      await writer.write(lines.next(3));
      const old = writer;
      writer = await open(log, 'a');
      await writer.write(lines.next(1));
      const firstOfNew = lines.written;
      for (let chunk = 0; chunk < 5; chunk++) await writer.write(lines.next(20));
      // Another thread of the writer flushes its last lines into the old file only now, when
      // the agent may well have moved on to the new one.
      await sleep(100);
      await old.write(lines.next(2));
      await old.close();
      await waitForValue(server, formats.em, firstOfNew);
    }
    await writer.write(lines.next(50));
    await expectExactlyOnce(server, formats.em, lines.written);
  });

  it('follows copy-truncate rotation without re-sending what was read before the truncate', async () => {
    const lines = new Lines(formats.em);
    const { dir, server } = await rig('em', emSources, (d) => mkdir(path.join(d, 'Log')));
    const log = path.join(dir, 'Log', 'EM Server.log');
    for (let rotation = 1; rotation <= 4; rotation++) {
      for (let chunk = 0; chunk < 10; chunk++) await appendFile(log, lines.next(30));
      // Lines appended between the agent's last read and the truncate are gone for good in
      // copy-truncate rotation; waiting for them makes the scenario deterministic.
      await waitForCount(server, lines.written, 30_000);
      await copyFile(log, `${log}.${rotation}`);
      await truncate(log, 0);
      // The file regrows at once, possibly past its old size before the agent looks again.
      for (let chunk = 0; chunk < 12; chunk++) await appendFile(log, lines.next(30));
    }
    await expectExactlyOnce(server, formats.em, lines.written);
  });

  it('reads a numbered series as new files appear (XradiaApp_1, _2, _10)', async () => {
    const lines = new Lines(formats.xradia);
    const folder = (dir: string) => path.join(dir, 'Xradia Versa', '16.0.1.1', 'Log Files');
    const file = (dir: string, n: number) => path.join(folder(dir), `XradiaApp_${n}.log`);
    const { dir, server } = await rig(
      'xrm',
      (d) => ({
        'xradia-app': { folder: path.join(d, 'Xradia Versa', '<version>', 'Log Files') },
        'xray-source': { enabled: false },
      }),
      async (d) => {
        await mkdir(folder(d), { recursive: true });
        await writeFile(file(d, 1), lines.next(100));
      },
    );
    // What was there at the start is read first; the series then grows while the agent runs.
    await waitForCount(server, lines.written, 30_000);
    for (const n of [1, 2, 10]) {
      for (let chunk = 0; chunk < 10; chunk++) await appendFile(file(dir, n), lines.next(20));
      await sleep(300);
    }
    // A late line in an older member of the series is read too.
    await appendFile(file(dir, 2), lines.next(5));
    await expectExactlyOnce(server, formats.xradia, lines.written);
    const items = await serverItems(server.dataDir);
    expect(new Set(items.map((i) => i.attrs?.file))).toEqual(
      new Set(['XradiaApp_1.log', 'XradiaApp_2.log', 'XradiaApp_10.log']),
    );
  });

  it('switches to a new Xradia version folder and then no longer follows the old one', async () => {
    const lines = new Lines(formats.tube);
    const tube = (dir: string, version: string) =>
      path.join(dir, 'Xradia Versa', version, 'logs', 'Tube.log');
    const { dir, server } = await rig(
      'xrm',
      (d) => ({
        'xray-source': { folder: path.join(d, 'Xradia Versa', '<version>', 'logs') },
        'xradia-app': { enabled: false },
      }),
      async (d) => {
        await mkdir(path.dirname(tube(d, '16.0.1.1')), { recursive: true });
        await writeFile(tube(d, '16.0.1.1'), lines.next(50));
      },
    );
    await waitForCount(server, lines.written, 30_000);
    // The old version writes up to the moment the new one is installed: its last lines may
    // still be unread when the new folder appears.
    for (let chunk = 0; chunk < 10; chunk++) {
      await appendFile(tube(dir, '16.0.1.1'), lines.next(20));
    }
    await mkdir(path.dirname(tube(dir, '16.1.0.0')), { recursive: true });
    for (let chunk = 0; chunk < 10; chunk++) {
      await appendFile(tube(dir, '16.1.0.0'), lines.next(20));
    }
    await expectExactlyOnce(server, formats.tube, lines.written);

    // Once the agent reads the new version, lines the old one writes are not collected:
    // the folder template names the newest version only.
    await appendFile(tube(dir, '16.0.1.1'), iconv.encode(formats.tube.line(1_000_000), 'cp1252'));
    await appendFile(tube(dir, '16.1.0.0'), lines.next(10));
    await expectExactlyOnce(server, formats.tube, lines.written);
  });

  it('loses and duplicates nothing when the agent is killed (SIGKILL) and restarted', async () => {
    const lines = new Lines(formats.em);
    const setup = await rig('em', emSources, (d) => mkdir(path.join(d, 'Log')));
    const { dir, server } = setup;
    const log = path.join(dir, 'Log', 'EM Server.log');

    // A writer that appends one line every 2 ms until told to stop; a rotation it is asked
    // for happens between two of its lines, as in the instrument software.
    let writing = true;
    const rotation: { requested: (() => void) | null } = { requested: null };
    const writer = (async () => {
      while (writing) {
        if (rotation.requested) {
          await rename(log, `${log}.1`);
          rotation.requested();
          rotation.requested = null;
        }
        await appendFile(log, lines.next());
        await sleep(2);
      }
    })();
    cleanups.push(() => {
      writing = false;
      return writer;
    });

    // The first kill comes after the agent has stored a cursor, so the rotation while it is
    // dead rotates a file it knows.
    await waitForCount(server, 1, 30_000);
    const moments: string[] = [];
    onTestFailed(() => console.error(`kills: ${moments.join('; ')}`));
    for (let kill = 1; kill <= 5; kill++) {
      const after = 200 + Math.floor(Math.random() * 1800);
      await sleep(after);
      moments.push(`${after} ms after the (re)start, at line ${lines.written}`);
      await stop(setup.agent, 'SIGKILL');
      await sleep(100 + Math.floor(Math.random() * 300));
      if (kill === 3) await new Promise<void>((resolve) => (rotation.requested = resolve));
      setup.startAgent();
    }
    await sleep(1000);
    writing = false;
    await writer;
    await expectExactlyOnce(server, formats.em, lines.written);
  });
});
