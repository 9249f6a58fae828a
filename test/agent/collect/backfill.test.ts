import { appendFile, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Collector, type BackfillLimits } from '../../../src-agent/collect/collector.ts';
import { resolveSources } from '../../../src-agent/collect/sources.ts';
import { silentLogger } from '../../../src-agent/log.ts';
import { Outbox } from '../../../src-agent/outbox/outbox.ts';
import { loadProfile } from '../../../src-agent/profiles/load.ts';
import { operatingHoursLine } from '../../helpers/em-lines.ts';

let dir: string;
let outbox: Outbox;
let collector: Collector | null = null;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'backfill-'));
  outbox = await Outbox.open(path.join(dir, 'outbox.db'));
});
afterEach(async () => {
  await collector?.stop();
  collector = null;
  await outbox.close();
  await rm(dir, { recursive: true, force: true });
});

const line = operatingHoursLine;
const lines = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => line(from + i)).join('');

async function collect(backfill: BackfillLimits): Promise<number[]> {
  const profile = await loadProfile('em');
  const sources = resolveSources(profile, {
    'em-server': { folder: dir },
    'smartsem-logs': { enabled: false },
  });
  collector = new Collector(sources, outbox, silentLogger(), {
    pollIntervalMs: 60_000,
    backfill,
    settleMs: 0,
  });
  await collector.start();
  // The last entry waits for the writer to settle; the settle pass follows at once.
  await new Promise((resolve) => setTimeout(resolve, 100));
  await collector.stop();
  const batch = await outbox.read(0, 100_000);
  return (batch?.frames ?? []).map((f) => JSON.parse(f).value as number);
}

describe('backfill on first start', () => {
  it('reads existing files whole when there is no limit', async () => {
    await writeFile(path.join(dir, 'EM Server.log'), lines(1, 50));
    expect(await collect({ maxAgeDays: 0, maxBytes: 0 })).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
  });

  it('reads only the last maxBytes of a large file, from its next full line', async () => {
    await writeFile(path.join(dir, 'EM Server.log'), lines(1, 100));
    const values = await collect({ maxAgeDays: 0, maxBytes: line(99).length * 10 + 5 });
    expect(values.at(-1)).toBe(100);
    expect(values.length).toBeGreaterThanOrEqual(10);
    expect(values.length).toBeLessThanOrEqual(11);
    expect(values).toEqual(values.slice().sort((a, b) => a - b));
  });

  it('skips files not written for longer than maxAgeDays, but reads what they gain later', async () => {
    const file = path.join(dir, 'EM Server.log');
    await writeFile(file, lines(1, 5));
    const old = new Date(Date.now() - 40 * 86_400_000);
    await utimes(file, old, old);
    expect(await collect({ maxAgeDays: 30, maxBytes: 0 })).toEqual([]);
    await collector!.stop();
    await appendFile(file, lines(6, 7));
    expect(await collect({ maxAgeDays: 30, maxBytes: 0 })).toEqual([6, 7]);
  });
});
