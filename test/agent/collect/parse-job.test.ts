// A read's entries parsed into one batch: a state that repeats its value within the batch
// is left out before an item is made of it, and the batch is exactly the one that making
// every item and leaving repeats to serializeItems gives.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileSources, parseJob } from '../../../src-agent/collect/parse-job.ts';
import { readEntries } from '../../../src-agent/collect/read-entries.ts';
import { resolveSources } from '../../../src-agent/collect/sources.ts';
import { fromRow, serializeItems, type StoredRow } from '../../../src-agent/outbox/batch.ts';
import { loadProfile } from '../../../src-agent/profiles/load.ts';
import type { ProfileSource } from '../../../src-agent/profiles/schema.ts';
import type { NewItem } from '../../../src-agent/transport/codec.ts';
import { jobsOf, SAMPLE_LOGS, SAMPLE_SOURCES } from '../../helpers/parse-jobs.ts';
import { parseItems } from '../../helpers/parse-items.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'parse-job-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The job's batch made the long way: every item, repeats dropped by serializeItems alone. */
function longWay(specs: ProfileSource[], source: string, job: Parameters<typeof parseJob>[1]) {
  const parser = compileSources(specs).get(source)!;
  const items: NewItem[] = [];
  let lastTs: string | null = null;
  for (const entry of readEntries(job.read, parser.frame).entries) {
    const outcome = parseItems(parser, entry, path.basename(job.relPath));
    items.push(...outcome.items);
    lastTs = outcome.ts ?? lastTs;
  }
  return { batch: serializeItems(items), lastTs, made: items.length };
}

const itemsOf = (runs: string[]) => (JSON.parse(`[${runs.join(',')}]`) as StoredRow[]).map(fromRow);

describe('parseJob', () => {
  it('gives the batch of every item made, on the sample logs', async () => {
    for (const { kind, source, file } of SAMPLE_SOURCES) {
      const specs = resolveSources(await loadProfile(kind), {});
      const jobs = await jobsOf(
        specs,
        specs.find((s) => s.id === source)!,
        path.join(SAMPLE_LOGS, file),
      );
      for (const job of jobs) {
        const got = parseJob(compileSources(specs), job);
        const expected = longWay(specs, source, job);
        expect(got.batch).toEqual(expected.batch);
        expect(got.lastTs).toBe(expected.lastTs);
        expect(got.lastTs).not.toBeNull();
      }
    }
  });

  it('tells states of one name made by different rules apart', async () => {
    const [em] = resolveSources(await loadProfile('em'), {});
    // "mode" as text from one rule and as a number from another: the same text makes a
    // different value, so "MODE=1" after "Mode = 1" is a change, not a repeat.
    const spec: ProfileSource = {
      ...em!,
      drop: [],
      rules: [
        {
          type: 'regex',
          match: '^MODE=(?<value>\\S+)$',
          name: 'mode',
          kind: 'state',
          valueType: 'string',
        },
        {
          type: 'labels',
          separator: ';',
          labels: { Mode: { name: 'mode', kind: 'state', valueType: 'number' } },
        },
      ],
    } as ProfileSource;
    const line = (message: string) => `2025-05-11 08:00:04.236 | INFO  | System   | ${message}\r\n`;
    const file = path.join(dir, 'EM Server.log');
    const messages = ['MODE=1', 'MODE=1', 'Mode = 1', 'Mode = 1', 'MODE=1', 'MODE=2', 'MODE=2'];
    await writeFile(file, messages.map(line).join(''));
    const [job] = await jobsOf([spec], spec, file);
    const got = parseJob(compileSources([spec]), job!);
    expect(itemsOf(got.batch.runs).map((i) => i.value)).toEqual(['1', 1, '1', '2']);
    expect(got.batch).toEqual(longWay([spec], spec.id, job!).batch);
  });
});
