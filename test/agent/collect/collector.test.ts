// Hostile files in a real log folder: a 10 MB line, a binary file, invalid UTF-16. The
// collector must neither crash nor hang, must count each problem in its status, and the
// good lines beside them must still reach the outbox as items the server accepts.
import { appendFile, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pathToFileURL } from 'node:url';
import { PARSE_WORKER } from '../../../scripts/build-agent.mjs';
import {
  Collector,
  RELEASE_AFTER_BYTES,
  type CollectorOptions,
} from '../../../src-agent/collect/collector.ts';
import { ParsePool } from '../../../src-agent/collect/parse-pool.ts';
import { READ_CHUNK_BYTES } from '../../../src-agent/collect/tail.ts';
import { resolveSources } from '../../../src-agent/collect/sources.ts';
import type { SourceOverride } from '../../../src-agent/config/schema.ts';
import { silentLogger } from '../../../src-agent/log.ts';
import { Outbox } from '../../../src-agent/outbox/outbox.ts';
import { loadProfile } from '../../../src-agent/profiles/load.ts';
import type { SourceStatus } from '../../../src-agent/status.ts';
import { itemSchema, type DeviceKind, type Item } from '../../../src-agent/transport/codec.ts';

const OPTIONS: CollectorOptions = {
  pollIntervalMs: 50,
  backfill: { maxAgeDays: 0, maxBytes: 0 },
  settleMs: 20,
};

let dir: string;
let logs: string;
let outbox: Outbox | null = null;
let collector: Collector | null = null;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'collector-fuzz-'));
  logs = path.join(dir, 'logs');
  await mkdir(logs);
});

afterEach(async () => {
  vi.restoreAllMocks();
  await collector?.stop();
  collector = null;
  await outbox?.close();
  outbox = null;
  await rm(dir, { recursive: true, force: true });
});

/** A collector on the test's outbox (opened if it is not yet), started: after its first scan. */
async function start(
  kind: DeviceKind,
  overrides: Record<string, SourceOverride>,
  options = OPTIONS,
): Promise<void> {
  const sources = resolveSources(await loadProfile(kind), overrides);
  outbox ??= await Outbox.open(path.join(dir, 'outbox.db'));
  collector = new Collector(sources, outbox, silentLogger(), options);
  await collector.start();
}

/** The outbox's items as the server would receive them: each must pass its validation. */
async function items(limit = 10_000): Promise<Item[]> {
  const batch = await outbox!.read(0, limit);
  return (batch?.frames ?? []).map((frame) => itemSchema.parse(JSON.parse(frame)));
}

function status(id: string): SourceStatus {
  const found = collector!.status().find((s) => s.id === id);
  if (!found) throw new Error(`no source ${id} in the status`);
  return found;
}

/** Polls `probe` until it returns something; a bounded wait is what "no hang" means here. */
async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const atLeast = (n: number) => async () => {
  const all = await items();
  return all.length >= n ? all : undefined;
};

/** A seeded generator (mulberry32): the same "random" file on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('a source folder that is missing at first', () => {
  it('shows the problem until the folder is there, and counts that it was', async () => {
    const later = path.join(dir, 'later');
    const before = Date.now();
    await start('em', { 'em-server': { folder: later }, 'smartsem-logs': { enabled: false } });
    await until('the error', async () => (status('em-server').errors > 0 ? true : undefined));
    const { lastError } = status('em-server');
    expect(lastError?.code).toBe('folder_unreadable');
    // When it was met: the time of the scan that met it.
    expect(Date.parse(lastError!.at)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(lastError!.at)).toBeLessThanOrEqual(Date.now());
    await mkdir(later);
    await writeFile(
      path.join(later, 'EM Server.log'),
      '2025-05-11 08:02:44.263 | INFO  | System   | Operating Hours = 17035.3 Hours\r\n',
    );
    await until('the item', atLeast(1));
    expect(status('em-server')).toMatchObject({ errors: 1, lastError: null, files: 1 });
  });
});

describe('a log file that cannot be read for a while', () => {
  it('shows the failure until the file reads again, and counts that it did', async () => {
    const file = path.join(logs, 'EM Server.log');
    // A link to itself: opening it fails (ELOOP), whoever the tests run as.
    await symlink('EM Server.log', file);
    await start('em', { 'em-server': { folder: logs }, 'smartsem-logs': { enabled: false } });
    await until('the error', async () => (status('em-server').errors > 0 ? true : undefined));
    expect(status('em-server').lastError).toMatchObject({
      code: 'read_failed',
      message: expect.stringMatching(/^EM Server\.log: .*ELOOP/),
    });
    await rm(file);
    await writeFile(
      file,
      '2025-05-11 08:02:44.263 | INFO  | System   | Operating Hours = 17035.3 Hours\r\n',
    );
    await until('the item', atLeast(1));
    expect(status('em-server')).toMatchObject({ errors: 1, lastError: null });
  });
});

describe('the collector on hostile log files', () => {
  const EM_ONLY = { 'smartsem-logs': { enabled: false } };
  // An entry's start, then 10 MB without a line end: more than two reads of the tail.
  const HUGE = '2025-05-11 08:00:00.000 | ERROR | Big      | ' + 'x'.repeat(10 * 1024 * 1024);
  const VALID =
    '2025-05-11 08:02:44.263 | INFO  | System   | Operating Hours = 17035.3 Hours ; Supply 24V = 24.08 V\r\n';

  it.each(['written at once', 'completed while the collector runs'])(
    'skips a 10 MB line (%s) with line_too_long and reads the line after it',
    async (how) => {
      const file = path.join(logs, 'EM Server.log');
      if (how === 'written at once') {
        await writeFile(file, `${HUGE}\r\n${VALID}`);
        await start('em', { 'em-server': { folder: logs }, ...EM_ONLY });
      } else {
        await writeFile(file, HUGE);
        await start('em', { 'em-server': { folder: logs }, ...EM_ONLY });
        await until('the error', async () => (status('em-server').errors > 0 ? true : undefined));
        await appendFile(file, `\r\n${VALID}`);
      }
      const got = await until('the valid line', atLeast(2));
      // Exactly the valid line's items: nothing of the huge line became an item.
      expect(got.map((i) => [i.name, i.value, i.unit])).toEqual([
        ['system.operating_hours', 17035.3, 'h'],
        ['supply.24v', 24.08, 'V'],
      ]);
      const { errors, lastError } = status('em-server');
      expect(errors).toBeGreaterThan(0);
      expect(lastError?.code).toBe('line_too_long');
      expect(lastError?.message).toContain('EM Server.log');
    },
    30_000,
  );

  it('counts a binary file matching the source pattern, and still reads the good log', async () => {
    const next = random(4711);
    // Random bytes, one in ten a NUL: line feeds, NULs and undefined cp1252 bytes all occur.
    const binary = Buffer.alloc(256 * 1024);
    for (let i = 0; i < binary.length; i++) {
      binary[i] = next() < 0.1 ? 0 : Math.floor(next() * 256);
    }
    await writeFile(path.join(logs, 'Binary.log'), binary);
    await writeFile(
      path.join(logs, 'GIS.log'),
      iconv.encode(
        '2025-05-11 08:18:08.488 | INFO  | GIS      | GIS Reservoir Temperature = 28.23 °C\r\n' +
          '2025-05-11 08:18:21.774 | WARN  | GIS      | Valve\u0000 stuck\u0000\r\n' +
          '2025-05-11 08:18:24.220 | INFO  | GIS      | GIS Reservoir Temperature = 72.22 °C\r\n',
        'cp1252',
      ),
    );
    await start('em', { 'em-server': { enabled: false }, 'smartsem-logs': { folder: logs } });

    const got = await until('the GIS items', atLeast(3));
    expect(got.map((i) => [i.name, i.value, i.attrs?.file])).toEqual([
      ['gis.reservoir_temperature', 28.23, 'GIS.log'],
      // NULs survive the outbox's JSON as they were written.
      ['warning', 'Valve\u0000 stuck\u0000', 'GIS.log'],
      ['gis.reservoir_temperature', 72.22, 'GIS.log'],
    ]);
    const { errors, lastError, files } = status('smartsem-logs');
    expect(files).toBe(2);
    expect(errors).toBeGreaterThan(0);
    expect(lastError).toMatchObject({ code: 'decode_invalid' });
    expect(lastError?.message).toContain('Binary.log');
  }, 30_000);

  it('counts invalid UTF-16 (lone surrogates, odd-length garbage) in ZENCore.log.xml', async () => {
    const event = (thread: string, celsius: string) =>
      `<event logger="Zeiss.Micro.Core.Incubation" timestamp="2025-06-23T08:09:20.5834640+01:00" level="INFO" thread="${thread}"><message>Incubation temperature = ${celsius} °C</message></event>\r\n`;
    const next = random(815);
    const garbage = Buffer.alloc(4001);
    for (let i = 0; i < garbage.length; i++) garbage[i] = Math.floor(next() * 256);
    await writeFile(
      path.join(logs, 'ZENCore.log.xml'),
      Buffer.concat([
        Buffer.from([0xff, 0xfe]),
        iconv.encode(event('8', '36.6'), 'utf16le'),
        // Lone surrogates: a high one without its low half, a low one on its own.
        iconv.encode(event('\uD800x\uDC00', '36.9'), 'utf16le'),
        // An odd byte count shifts every code unit after it by half.
        Buffer.from([0x00, 0xd8, 0x41]),
        garbage,
      ]),
    );
    await start('lm', {
      'remote-service': { enabled: false },
      zen: { enabled: false },
      'zen-core': { folder: logs },
    });

    const got = await until('the incubation items', atLeast(2));
    expect(got.map((i) => [i.name, i.value, i.unit])).toEqual([
      ['incubation.temperature', 36.6, '°C'],
      ['incubation.temperature', 36.9, '°C'],
    ]);
    // JSON escapes a lone surrogate as \udXXX: none may reach the outbox.
    for (const item of got) expect(JSON.stringify(item)).not.toMatch(/\\ud[89a-f]/i);
    const { errors, lastError } = status('zen-core');
    expect(errors).toBeGreaterThan(0);
    expect(['decode_invalid', 'parse_failed']).toContain(lastError?.code);
  }, 30_000);
});

describe('the collector after a large read', () => {
  it('asks once for memory to be released when it has caught up, not before', async () => {
    const sources = resolveSources(await loadProfile('em'), {
      'em-server': { folder: logs },
      'smartsem-logs': { enabled: false },
    });
    const line = '2025-05-11 08:02:44.263 | INFO  | System   | Operating Hours = 17035.3 Hours\r\n';
    const lines = Math.ceil((RELEASE_AFTER_BYTES + 1024) / line.length);
    await writeFile(path.join(logs, 'EM Server.log'), line.repeat(lines));
    let released = 0;
    let itemsAtRelease = -1;
    outbox = await Outbox.open(path.join(dir, 'outbox.db'));
    collector = new Collector(sources, outbox, silentLogger(), {
      ...OPTIONS,
      releaseMemory: () => {
        released++;
        itemsAtRelease = outbox!.pending;
      },
    });
    await collector.start();
    await until('the release', async () => (released > 0 ? true : undefined));
    // All but the last entry, which waits for possible continuation lines.
    expect(itemsAtRelease).toBeGreaterThanOrEqual(lines - 1);
    // Small appends afterwards are no reason for another one.
    await appendFile(path.join(logs, 'EM Server.log'), line);
    await until('the appended line', async () => (outbox!.pending > lines ? true : undefined));
    expect(released).toBe(1);
  });
});

describe('the entry open at the end of a backfilled file', () => {
  const line = '2025-05-11 08:02:44.263 | INFO  | System   | Operating Hours = 17035.3 Hours\r\n';
  const lines = Math.ceil((16 * READ_CHUNK_BYTES) / line.length);
  // The settle timer never fires in a test this short: only the collector's own clock, which
  // moves a minute with every commit here, can show the writer has settled.
  const settleMs = 10 * 60_000;

  /**
   * Backfills `lines` lines; `writing` appends one more with each of the backfill's commits,
   * as a writer busy until it ends. Returns the entries stored less those written.
   */
  async function backfill(writing: boolean): Promise<number> {
    const file = path.join(logs, 'EM Server.log');
    const written = line.repeat(lines);
    await writeFile(file, written);
    const sources = resolveSources(await loadProfile('em'), {
      'em-server': { folder: logs },
      'smartsem-logs': { enabled: false },
    });
    outbox = await Outbox.open(path.join(dir, 'outbox.db'));
    const store = outbox.appendBatch.bind(outbox);
    let clock = 0;
    let appended = 0;
    outbox.appendBatch = async (batch, cursors) => {
      clock += 60_000;
      if (writing && cursors[0]!.offset < written.length) {
        await appendFile(file, line);
        appended++;
      }
      return store(batch, cursors);
    };
    collector = new Collector(sources, outbox, silentLogger(), {
      ...OPTIONS,
      settleMs,
      now: () => clock,
    });
    await collector.start();
    // Every entry but the last is stored as the backfill goes.
    await until('the backfill', async () =>
      outbox!.pending >= lines + appended - 1 ? true : undefined,
    );
    // Scans go on meanwhile: a last entry that is to be stored is by now.
    await new Promise((resolve) => setTimeout(resolve, 10 * OPTIONS.pollIntervalMs));
    return outbox.pending - (lines + appended);
  }

  it('is stored at once when the file was not written while the backfill took settleMs', async () => {
    expect(await backfill(false)).toBe(0);
  });

  it('still waits when the file was written meanwhile', async () => {
    expect(await backfill(true)).toBe(-1);
  });
});

describe('a rotated file finished', () => {
  // Events of several lines, as log4net writes an exception: an event that a read ends in
  // the middle of must go on in the next read, not be ended there.
  const event = (n: number) =>
    `<event logger="Zeiss.Micro.Hardware.Stage" timestamp="2025-06-23T08:00:00.000+01:00" ` +
    `level="ERROR" thread="7" domain="ZEN.exe"><message>Stage move ${n} failed</message>\r\n` +
    `<exception>TimeoutException: no answer from the stage\r\n   at Stage.Move()\r\n` +
    `   at Stage.Run()</exception></event>\r\n`;
  const events = (from: number, count: number) =>
    Array.from({ length: count }, (_, i) => event(from + i)).join('');
  const ZEN_ONLY = { 'zen-core': { enabled: false }, 'remote-service': { enabled: false } };

  it('keeps events that span two of its reads whole', async () => {
    const log = path.join(logs, 'ZEN.log.xml');
    await writeFile(log, events(1, 1));
    await start('lm', { zen: { folder: logs }, ...ZEN_ONLY });
    await until('the first event', atLeast(1));
    await collector!.stop();
    // While the agent is stopped: more than two reads' worth, then a rollover.
    const count = Math.ceil((2.5 * READ_CHUNK_BYTES) / event(1).length);
    await appendFile(log, events(2, count));
    await rename(log, `${log}.1`);
    await writeFile(log, events(count + 2, 1));
    await start('lm', { zen: { folder: logs }, ...ZEN_ONLY });
    // The new file is read after the end of the rotated one.
    const last = `Stage move ${count + 2} failed`;
    const got = await until('the new file', async () => {
      const all = await items();
      return all.some((i) => i.value === last) ? all : undefined;
    });
    expect(got.map((i) => i.value)).toEqual(
      Array.from({ length: count + 2 }, (_, i) => `Stage move ${i + 1} failed`),
    );
    expect(status('zen').errors).toBe(0);
  }, 30_000);
});

describe('the collector with parse workers', () => {
  const line = '2025-05-11 08:02:44.263 | INFO  | System   | Operating Hours = 17035.3 Hours\r\n';
  // Enough reads that the workers have started (they take some 50 ms) well before the end.
  const lines = Math.ceil((24 * READ_CHUNK_BYTES) / line.length);

  async function collect(parseWorker: URL | undefined) {
    const sources = resolveSources(await loadProfile('em'), {
      'em-server': { folder: logs },
      'smartsem-logs': { enabled: false },
    });
    outbox = await Outbox.open(path.join(dir, `outbox-${parseWorker ? 'worker' : 'here'}.db`));
    // Any backlog at all goes to the worker.
    collector = new Collector(sources, outbox, silentLogger(), {
      ...OPTIONS,
      parseWorker,
      workerAfterBytes: 1,
    });
    await collector.start();
    // The last entry too, once it has settled.
    await until('every line', async () => (outbox!.pending >= lines ? true : undefined));
    const source = status('em-server');
    await collector.stop();
    collector = null;
    const got = await items(lines);
    await outbox.close();
    outbox = null;
    return { items: got, source };
  }

  it('stores what this thread would store', async () => {
    await writeFile(path.join(logs, 'EM Server.log'), line.repeat(lines));
    const jobs = vi.spyOn(ParsePool.prototype, 'parse');
    const there = await collect(pathToFileURL(PARSE_WORKER));
    expect(jobs).toHaveBeenCalled();
    jobs.mockRestore();
    const here = await collect(undefined);
    expect(there.items.length).toBe(lines);
    expect(there.items).toEqual(here.items);
    expect(there.source.errors).toBe(0);
  });

  it('starts the workers with it, and closes them once the first scan finds no backlog', async () => {
    await writeFile(path.join(logs, 'EM Server.log'), line);
    const jobs = vi.spyOn(ParsePool.prototype, 'parse');
    const closes = vi.spyOn(ParsePool.prototype, 'close');
    // The default threshold: a line is no backlog that would start them.
    await start(
      'em',
      { 'em-server': { folder: logs }, 'smartsem-logs': { enabled: false } },
      { ...OPTIONS, parseWorker: pathToFileURL(PARSE_WORKER) },
    );
    expect(jobs).toHaveBeenCalled();
    expect(closes).toHaveBeenCalledTimes(1);
    expect((await items()).map((i) => i.value)).toEqual([17035.3]);
  });

  it('parses on in this thread when a worker fails, and says so', async () => {
    await writeFile(path.join(logs, 'EM Server.log'), line.repeat(lines));
    const broken = path.join(dir, 'broken-worker.mjs');
    // It starts as a worker should, then fails at its first job, mid-backfill.
    await writeFile(
      broken,
      [
        "import { parentPort } from 'node:worker_threads';",
        "parentPort.on('message', () => { throw new Error('the worker is broken'); });",
      ].join('\n'),
    );
    const { items: got, source } = await collect(pathToFileURL(broken));
    expect(got.length).toBe(lines);
    expect(new Set(got.map((i) => i.value)).size).toBe(1);
    // Not the file's fault, and lasting: the status keeps it after the file has been read.
    expect(source.lastError).toEqual({
      code: 'parse_worker_failed',
      message: expect.stringContaining('the parse worker failed: the worker is broken'),
      at: expect.any(String),
    });
  });
});
