// Batches made where items are parsed (serializeItems) and stored by the outbox
// (appendBatch): state items are kept exactly when their value changes, however the items
// are split into batches, and the outbox's byte count stays that of what it holds.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BatchWriter,
  fromRow,
  numberJsonOf,
  rowJson,
  serializeItems,
  toRow,
  type StoredRow,
} from '../../../src-agent/outbox/batch.ts';
import { Outbox } from '../../../src-agent/outbox/outbox.ts';
import { SqliteDb } from '../../../src-agent/outbox/sqlite.ts';
import { toLocalIso } from '../../../src-agent/collect/timestamp.ts';
import type { AgentTimestamp, NewItem } from '../../../src-agent/transport/codec.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'batch-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const item = fc.record({
  ts: fc.constantFrom('2026-11-30T08:00:00.000Z', '2026-11-30T08:00:01.500+01:00'),
  source: fc.constantFrom('em-server', 'zen'),
  name: fc.constantFrom('vacuum.status', 'gun.state', 'vacuum.gun'),
  kind: fc.constantFrom('state', 'state', 'metric', 'error'),
  value: fc.oneof(
    fc.constantFrom('Ready', 'Vent', 'é "quoted"'),
    fc.constantFrom(1, 2.5e-9),
    fc.constant(null),
  ),
}) as fc.Arbitrary<NewItem>;

/** What the outbox must hold: each state only where its value differs from the last one kept. */
function keptInOrder(items: readonly NewItem[]): NewItem[] {
  const last = new Map<string, string>();
  return items.filter((i) => {
    if (i.kind !== 'state') return true;
    const key = `${i.source}/${i.name}`;
    const value = JSON.stringify(i.value);
    if (last.get(key) === value) return false;
    last.set(key, value);
    return true;
  });
}

describe('serializeItems', () => {
  it('writes the items as runs of one JSON array, leaving out states repeated within the batch', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 30 }), (items) => {
        const batch = serializeItems(items);
        const parsed = (JSON.parse(`[${batch.runs.join(',')}]`) as StoredRow[]).map(fromRow);
        expect(parsed).toEqual(keptInOrder(items));
        expect(batch.count).toBe(parsed.length);
        // Each state's first value is a run of its own, which the outbox may leave out.
        for (const first of batch.firstStates) {
          const alone = fromRow(JSON.parse(batch.runs[first.run]!) as StoredRow);
          expect(alone.kind).toBe('state');
          expect(JSON.stringify(alone.value)).toBe(first.value);
          expect(`${alone.source}\u0000${alone.name}`).toBe(first.key);
        }
        expect(batch.runs.every((run) => run !== '')).toBe(true);
        // Each run's item count, for the outbox to cut rows by.
        expect(batch.runCounts.map((n, i) => [n, JSON.parse(`[${batch.runs[i]}]`).length])).toEqual(
          batch.runCounts.map((n) => [n, n]),
        );
        expect(new Set(batch.firstStates.map((s) => s.key)).size).toBe(batch.firstStates.length);
        expect(batch.lastStates.length).toBe(batch.firstStates.length);
      }),
    );
  });
});

describe('rowJson', () => {
  // Few names and units, so that one name meets other kinds and units in turn; any text, so
  // that the strings a template holds need JSON's escapes.
  const text = fc.oneof(
    fc.constantFrom('em-server', 'vacuum.gun', 'mbar', 'a"b', 'c\\d', '\u0001', '\ud800', 'é'),
    fc.string({ unit: 'binary', maxLength: 6 }),
  );
  const anyItem = fc.record(
    {
      ts: fc.oneof(
        fc.constantFrom('2025-05-11T08:00:04.236+02:00', '2025-05-11T08:00:04.236Z'),
        text,
      ),
      source: text,
      name: text,
      kind: fc.constantFrom('metric', 'state', 'event', 'error'),
      value: fc.oneof(
        fc.double(),
        fc.integer(),
        fc.constantFrom(-0, 2.5e-9, 1e21, 1e-7, NaN, Infinity, -Infinity),
        fc.string({ maxLength: 4 }),
        fc.constant(null),
        fc.boolean(),
        // Not an item's type, but what a caller might hand over at run time.
        fc.constant(undefined),
      ),
      unit: text,
      attrs: fc.dictionary(text, fc.oneof(text, fc.double())),
    },
    { requiredKeys: ['ts', 'source', 'name', 'kind', 'value'] },
  ) as fc.Arbitrary<NewItem>;

  it('writes what JSON.stringify writes, item after item', () => {
    fc.assert(
      fc.property(fc.array(anyItem, { maxLength: 20 }), (items) => {
        for (const item of items) expect(rowJson(item)).toBe(JSON.stringify(toRow(item)));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes the row of the item a plain number stands for', () => {
    const plain = fc.record(
      {
        // The timestamps the agent writes, in the test host's zone.
        ts: fc.integer({ min: 0, max: Date.UTC(9998, 0, 1) }).map(toLocalIso),
        source: text,
        name: text,
        kind: fc.constantFrom('metric', 'event', 'error'),
        value: fc.oneof(
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.integer(),
          fc.constantFrom(-0, 2.5e-9, 1e21, 1e-7),
        ),
        unit: text,
      },
      { requiredKeys: ['ts', 'source', 'name', 'kind', 'value'] },
    ) as fc.Arbitrary<NewItem & { ts: AgentTimestamp; value: number }>;
    fc.assert(
      fc.property(fc.array(plain, { maxLength: 20 }), (items) => {
        const [direct, asItems] = [new BatchWriter(), new BatchWriter()];
        for (const i of items) {
          direct.plainNumber(i.ts, i.source, i.name, i.kind, numberJsonOf(i.value)!, i.unit);
          asItems.item(i);
        }
        expect(direct.finish()).toEqual(asItems.finish());
      }),
      { numRuns: 2000 },
    );
  });

  it('stays exact past the number of templates it keeps', () => {
    const item = (i: number): NewItem => ({
      ts: '2025-05-11T08:00:04.236+02:00',
      source: `s${i % 3}`,
      name: `n${i}`,
      kind: 'metric',
      value: i / 7,
      unit: i % 2 ? 'V' : undefined,
    });
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 3000; i++) {
        expect(rowJson(item(i))).toBe(JSON.stringify(toRow(item(i))));
      }
    }
  });
});

describe('Outbox.appendBatch', () => {
  it('keeps states on change only, over any split into batches, and counts its bytes right', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(item, { maxLength: 40 }),
        fc.array(fc.nat(40), { maxLength: 5 }),
        async (items, cuts) => {
          const file = path.join(dir, `outbox-${run++}.db`);
          const outbox = await Outbox.open(file);
          const bounds = [0, ...cuts.map((c) => Math.min(c, items.length)).sort((a, b) => a - b)];
          bounds.push(items.length);
          for (let i = 1; i < bounds.length; i++) {
            await outbox.appendBatch(serializeItems(items.slice(bounds[i - 1], bounds[i])), []);
          }
          const stored = await outbox.read(0, 1000);
          const bodies = (stored?.frames ?? []).map((f) => {
            const { seq: _seq, ...rest } = JSON.parse(f) as NewItem & { seq: number };
            return rest;
          });
          expect(bodies).toEqual(keptInOrder(items));
          expect(outbox.pending).toBe(bodies.length);
          // The quota's byte count: what the table holds, not what was offered.
          const pendingBytes = Reflect.get(outbox, 'pendingBytes') as number;
          await outbox.close();
          const db = await SqliteDb.open(file, { readonly: true });
          const row = await db.get<{ bytes: number }>(
            'SELECT coalesce(sum(length(items)), 0) AS bytes FROM batches',
          );
          await db.close();
          expect(pendingBytes).toBe(row!.bytes);
        },
      ),
      { numRuns: 40 },
    );
  });
});
