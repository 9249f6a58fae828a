import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { appendEntry, initialState, nextLines, startSimulator } from '../../tools/simulator.ts';
import type { Kind } from '../../tools/simulator.ts';

const EM = 'em/SmartSEM/Log';
const EM_SERVER = `${EM}/EM Server.log`;
const ZEN = 'lm/Logging/ZEN.log.xml';
const ZEN_CORE = 'lm/Logging/ZENCore.log.xml';
const REMOTE = 'lm/Remote Service/remote service.log.xml';
const XRM_VERSION = '12.0.1234.5678';
const XRM = `xrm/Xradia Versa/${XRM_VERSION}`;
const XRM_APP = `${XRM}/Log Files/XradiaApp_1.log`;
const XRM_SOURCES = ['Tube', 'Vac', 'FilStore', 'Warm', 'Comms'].map((n) => `${XRM}/logs/${n}.log`);
const ENCODINGS = new Map<string, string>([
  [EM_SERVER, 'windows1252'],
  [`${EM}/GIS.log`, 'windows1252'],
  [`${EM}/FIB.log`, 'windows1252'],
  [ZEN, 'utf8'],
  [ZEN_CORE, 'utf16le'],
  [REMOTE, 'utf8'],
  [XRM_APP, 'utf8'],
  ...XRM_SOURCES.map((file): [string, string] => [file, 'utf8']),
]);

const EM_LINE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} \| (INFO |WARN |ERROR) \| .{8} \| /;
const START = new Date(2025, 4, 11, 8, 0, 4, 236).getTime();
const BOM_UTF8 = Buffer.from([0xef, 0xbb, 0xbf]);
const BOM_UTF16LE = Buffer.from([0xff, 0xfe]);

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'scopelink-sim-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function run(kind: Kind, steps: number): Promise<void> {
  let state = initialState(kind, 7, XRM_VERSION);
  for (let i = 0; i < steps; i++) {
    const next = nextLines(state, START + i * 1234);
    state = next.state;
    await appendEntry(root, next.entry);
  }
}

const bytes = (file: string) => readFile(path.join(root, ...file.split('/')));
// A live run may not have reached a rarely written file yet.
const bytesOrNone = (file: string) => bytes(file).catch(() => Buffer.alloc(0));

/** Decodes a file and splits it on CRLF, failing on any other line end or an unended line. */
async function crlfLines(file: string, encoding = 'utf8', bom?: Buffer): Promise<string[]> {
  let buffer = await bytes(file);
  if (bom) {
    expect(buffer.subarray(0, bom.length)).toEqual(bom);
    buffer = buffer.subarray(bom.length);
  }
  const text = iconv.decode(buffer, encoding, { stripBOM: false });
  expect(text).not.toContain('\ufeff');
  expect(text.endsWith('\r\n')).toBe(true);
  expect(text.replaceAll('\r\n', '')).not.toMatch(/[\r\n]/);
  return text.split('\r\n').slice(0, -1);
}

function numbers(lines: string[], pattern: RegExp): number[] {
  return lines.flatMap((line) => {
    const match = pattern.exec(line);
    return match ? [Number(match[1])] : [];
  });
}

function expectRising(values: number[]): void {
  expect(values.length).toBeGreaterThanOrEqual(3);
  values.slice(1).forEach((value, i) => expect(value).toBeGreaterThanOrEqual(values[i]!));
  expect(values.at(-1)!).toBeGreaterThan(values[0]!);
}

describe('simulator generator, em', () => {
  it('writes cp1252 with CRLF in the SmartSEM line shape', async () => {
    await run('em', 300);
    const raw = await bytes(EM_SERVER);
    expect(raw.subarray(0, 4).toString('latin1')).toBe('2025');
    expect(raw.includes(Buffer.from(' \xb5m', 'latin1'))).toBe(true);
    expect(raw.includes(Buffer.from('µ', 'utf8'))).toBe(false);

    const lines = await crlfLines(EM_SERVER, 'windows1252');
    expect(lines[0]).toBe(
      '2025-05-11 08:00:04.236 | INFO  | EMServer | EMSERVER_HAS_LOADED SmartSEM V06.07.00.07',
    );
    expect(lines[1]).toMatch(/\| Firmware \| Firmware Stage Controller = /);
    lines.forEach((line, i) => {
      if (line.startsWith('    at ')) expect(lines[i - 1]).toMatch(/\| ERROR \||^ {4}at /);
      else expect(line).toMatch(EM_LINE);
    });
    const text = lines.join('\n');
    expect(text).toMatch(/\| WARN {2}\| /);
    expect(text).toMatch(/\| ERROR \| .*\n {4}at /);
    expect(text).toMatch(/EMSERVER_USER_LOGGED_ON user=\S+/);
    expect(text).toMatch(/Image saved to C:\\Users\\[^\\]+\\/);
    expect(text).toMatch(
      /Gun Vacuum = \d\.\d{2}e-\d{3} mbar ; System Vacuum = \d\.\d{2}e-\d{3} mbar/,
    );

    const gis = await crlfLines(`${EM}/GIS.log`, 'windows1252');
    gis.forEach((line) =>
      expect(line).toMatch(/\| GIS {6}\| GIS Reservoir Temperature = [\d.]+ °C$/),
    );
    expect((await bytes(`${EM}/GIS.log`)).includes(Buffer.from(' \xb0C', 'latin1'))).toBe(true);
    const fib = await crlfLines(`${EM}/FIB.log`, 'windows1252');
    fib.forEach((line) => expect(line).toMatch(/\| FIB {6}\| FIB Emission Current = [\d.]+ uA$/));
  });

  it('keeps counters rising and lets the vacuum fluctuate', async () => {
    await run('em', 300);
    const lines = await crlfLines(EM_SERVER, 'windows1252');
    expectRising(numbers(lines, /Operating Hours = ([\d.]+) Hours/));
    expectRising(numbers(lines, /Filament Age = ([\d.]+) Hours/));
    for (const axis of ['X', 'Y', 'Z']) {
      expectRising(numbers(lines, new RegExp(`Stage ${axis} Cycles = (\\d+)`)));
    }
    const gun = numbers(lines, /Gun Vacuum = ([\d.]+e-\d+) mbar/);
    expect(new Set(gun).size).toBeGreaterThan(gun.length / 2);
    expect(Math.min(...gun)).toBeGreaterThan(1e-10);
    expect(Math.max(...gun)).toBeLessThan(1e-7);
  });
});

describe('simulator generator, lm', () => {
  it('writes ZEN events one a line except exceptions, with the samples encodings', async () => {
    await run('lm', 300);
    expect((await bytes(ZEN)).subarray(0, 6).toString()).toBe('<event');
    const lines = await crlfLines(ZEN);
    let exceptions = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      expect(line).toMatch(/^<event logger="[\w.]+" timestamp="[^"]+" level="(INFO|WARN|ERROR)" /);
      expect(line).toMatch(/ username="LAB\\[^"]+">/);
      if (line.endsWith('</event>')) continue;
      expect(line).toMatch(/<exception>[^<]*$/);
      exceptions += 1;
      while (!lines[++i]!.endsWith('</exception></event>')) expect(lines[i]).not.toMatch(/<event/);
    }
    expect(exceptions).toBeGreaterThan(0);
    expect(lines.join('\n')).toMatch(/<message><!\[CDATA\[.*<.*\]\]><\/message>/);
    expect(lines.join('\n')).toMatch(/Experiment saved: C:\\Users\\[^\\]+\\/);

    const stamp = /timestamp="([^"]+)"/.exec(lines[0]!)![1]!;
    expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}[+-]\d\d:\d\d$/);
    expect(Date.parse(stamp.replace(/(\.\d{3})\d{4}/, '$1'))).toBe(START);

    const core = await crlfLines(ZEN_CORE, 'utf16le', BOM_UTF16LE);
    core.forEach((line) => expect(line).toMatch(/^<event .*<\/event>$/));
    expect(core.join('\n')).toContain('Incubation temperature = ');

    const remote = await crlfLines(REMOTE, 'utf8', BOM_UTF8);
    remote.forEach((line) =>
      expect(line).toMatch(
        /^<record timestamp="[\d-]+T[\d:]+[+-]\d\d:\d\d" name="[\w.]+" value="[\d.]+"( unit="h")? \/>$/,
      ),
    );
  });

  it('keeps counters rising', async () => {
    await run('lm', 400);
    const zen = await crlfLines(ZEN);
    expectRising(numbers(zen, /HXP lamp operating hours: ([\d.]+) h/));
    expectRising(numbers(zen, /Objective turret cycles: (\d+)/));
    expectRising(numbers(zen, /Focus drive cycles: (\d+)/));
    const remote = await crlfLines(REMOTE, 'utf8', BOM_UTF8);
    expectRising(numbers(remote, /name="stand.operating_hours" value="([\d.]+)"/));
    expectRising(numbers(remote, /name="reflector.turret.cycles" value="(\d+)"/));
  });
});

describe('simulator generator, xrm', () => {
  it('writes the app log and source logs under the version folder', async () => {
    await run('xrm', 300);
    const app = await crlfLines(XRM_APP);
    app.forEach((line) =>
      expect(line).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[(INFO |ERROR)\] \[\w+\] /),
    );
    expect(app[0]!.startsWith('2025-05-11 08:00:04.236 ')).toBe(true);
    for (const file of XRM_SOURCES) {
      const name = path.basename(file, '.log');
      const lines = await crlfLines(file);
      lines.forEach((line) =>
        expect(line).toMatch(new RegExp(`^05/11/2025 \\d\\d:\\d\\d:\\d\\d, ${name}, \\w+=`)),
      );
    }
    expect((await crlfLines(XRM_SOURCES[1]!)).join('\n')).toMatch(/Pressure=\d\.\d{2}e-\d{3} mbar/);
    expectRising(numbers(app, /move #(\d+) complete/));
    expectRising(numbers(await crlfLines(XRM_SOURCES[2]!), /FilamentHours=([\d.]+)/));
  });
});

describe('nextLines', () => {
  it('is deterministic for a seed and leaves its input state alone', () => {
    for (const kind of ['em', 'lm', 'xrm'] as const) {
      const state = initialState(kind, 99);
      const before = structuredClone(state);
      const first = nextLines(nextLines(state, START).state, START + 1000);
      const again = nextLines(nextLines(state, START).state, START + 1000);
      expect(state).toEqual(before);
      expect(again).toEqual(first);
      const other = nextLines(nextLines(initialState(kind, 100), START).state, START + 1000);
      expect(other.state).not.toEqual(first.state);
    }
  });
});

describe('startSimulator', () => {
  it('writes live lines for every kind, counts them, and stop() stops writing', async () => {
    const before = Date.now();
    const sim = startSimulator({ root, linesPerSecond: 200, seed: 3, xrmVersion: XRM_VERSION });
    try {
      await vi.waitFor(() => expect(sim.written()).toBeGreaterThanOrEqual(60), { timeout: 5000 });
    } finally {
      await sim.stop();
    }
    const after = Date.now();

    const emText = iconv.decode(await bytes(EM_SERVER), 'windows1252');
    const [y, mo, d, h, mi, s, ms] = /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)\.(\d+)/
      .exec(emText)!
      .slice(1)
      .map(Number);
    const first = new Date(y!, mo! - 1, d!, h!, mi!, s!, ms!).getTime();
    expect(first).toBeGreaterThanOrEqual(before);
    expect(first).toBeLessThanOrEqual(after);
    for (const file of [ZEN, XRM_APP]) expect((await bytes(file)).length).toBeGreaterThan(0);

    const sizes = () =>
      Promise.all([...ENCODINGS.keys()].map(async (file) => (await bytesOrNone(file)).length));
    const stopped = await sizes();
    const written = sim.written();
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await sizes()).toEqual(stopped);
    expect(sim.written()).toBe(written);

    let lines = 0;
    for (const [file, encoding] of ENCODINGS) {
      lines += iconv.decode(await bytesOrNone(file), encoding).split('\r\n').length - 1;
    }
    expect(lines).toBe(written);
  });

  it('rejects a rate that is not positive', () => {
    expect(() => startSimulator({ root, linesPerSecond: 0 })).toThrow(RangeError);
  });
});
