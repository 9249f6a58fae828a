// The outbox against a model of its promise, over random runs of appends, reads,
// acknowledgements and restarts: every item kept gets the next seq, is served in order with
// that seq until it is acknowledged and never after, a state is kept only when its value
// changes, and a restart changes none of it. Under a tight quota, what is missing is no more
// than the quota dropped (exactly that, where nothing was acknowledged).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROW_ITEMS } from '../../../src-agent/outbox/batch.ts';
import { Outbox, type OutboxLimits } from '../../../src-agent/outbox/outbox.ts';
import type { NewItem } from '../../../src-agent/transport/codec.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-model-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Few names and values, so that states repeat and change.
const item: fc.Arbitrary<NewItem> = fc
  .record({
    ts: fc.constantFrom('2026-11-30T08:00:00.000+01:00', '2026-11-30T09:30:00.250+01:00'),
    source: fc.constantFrom('em-server', 'zen'),
    name: fc.constantFrom('vacuum.status', 'vacuum.gun', 'gun.state'),
    kind: fc.constantFrom('metric', 'state', 'state', 'error', 'event'),
    value: fc.oneof(
      fc.constantFrom('Ready', 'Vent'),
      fc.constantFrom(1, 2.5e-9),
      fc.constant(null),
    ),
    unit: fc.option(fc.constantFrom('mbar', 'h'), { nil: undefined }),
    code: fc.option(fc.constantFrom('2030'), { nil: undefined }),
  })
  .map(({ code, ...rest }) => {
    const made: NewItem = { ...rest };
    if (made.unit === undefined) delete made.unit;
    if (code !== undefined && made.kind === 'error') made.attrs = { code };
    return made;
  });

/** Enough metrics to fill rows past ROW_ITEMS: reads and acks that end inside a row. */
const bulk = (count: number, from: number): NewItem[] =>
  Array.from({ length: count }, (_, i) => ({
    ts: '2026-11-30T10:00:00.000+01:00',
    source: 'em-server',
    name: 'stage.x.cycles',
    kind: 'metric',
    value: from + i,
  }));

type Op =
  | { op: 'append'; items: NewItem[] }
  | { op: 'bulk'; count: number }
  | { op: 'read'; after: number; limit: number }
  | { op: 'ack'; at: number }
  | { op: 'reopen' };

const ops: fc.Arbitrary<Op[]> = fc.array(
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant('append' as const),
        items: fc.array(item, { maxLength: 12 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('bulk' as const),
        count: fc.integer({ min: 1, max: ROW_ITEMS + 120 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('read' as const),
        after: fc.nat(),
        limit: fc.integer({ min: 1, max: 700 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('ack' as const), at: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('reopen' as const) }) },
  ),
  { maxLength: 25 },
);

interface Stored {
  seq: number;
  item: NewItem;
}

/** What the outbox must have done with items, by the rules it promises. */
class Model {
  /** Kept and not yet acknowledged, in seq order. */
  pending: Stored[] = [];
  lastSeq = 0;
  acked = 0;
  private readonly lastStates = new Map<string, string>();
  private bulkValue = 0;

  /** The items `append` must keep, each with the seq it must get. */
  keep(items: readonly NewItem[]): Stored[] {
    const kept: Stored[] = [];
    for (const i of items) {
      if (i.kind === 'state') {
        const key = `${i.source}\u0000${i.name}`;
        const value = JSON.stringify(i.value);
        if (this.lastStates.get(key) === value) continue;
        this.lastStates.set(key, value);
      }
      kept.push({ seq: ++this.lastSeq, item: i });
    }
    this.pending.push(...kept);
    return kept;
  }

  bulk(count: number): NewItem[] {
    const items = bulk(count, this.bulkValue);
    this.bulkValue += count;
    return items;
  }

  /** What a read after `after` of at most `limit` items must serve. */
  read(after: number, limit: number): Stored[] {
    const from = Math.max(after, this.acked);
    return this.pending.filter((s) => s.seq > from).slice(0, limit);
  }

  /** How many items an acknowledgement up to `upTo` must remove. */
  ack(upTo: number): number {
    const mark = Math.min(upTo, this.lastSeq);
    if (mark <= this.acked) return 0;
    this.acked = mark;
    const before = this.pending.length;
    this.pending = this.pending.filter((s) => s.seq > mark);
    return before - this.pending.length;
  }
}

/** A seq the run can name: one stored, one past the end, or none at all. */
function pickSeq(model: Model, n: number): number {
  const choices = [
    0,
    model.acked,
    model.lastSeq,
    model.lastSeq + 3,
    ...model.pending.map((s) => s.seq),
  ];
  return choices[n % choices.length]!;
}

const asSent = ({ seq, item }: Stored) => ({ seq, ...item });

describe('the outbox against its model', () => {
  it('serves every kept item once in order with its seq, until acknowledged, across restarts', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(ops, async (steps) => {
        const file = path.join(dir, `o-${run++}.db`);
        let outbox = await Outbox.open(file);
        const stream = outbox.stream;
        const model = new Model();
        try {
          for (const step of steps) {
            switch (step.op) {
              case 'append':
              case 'bulk': {
                const items = step.op === 'bulk' ? model.bulk(step.count) : step.items;
                const kept = model.keep(items);
                expect(await outbox.append(items, [])).toBe(kept.length);
                break;
              }
              case 'read': {
                const after = pickSeq(model, step.after);
                const got = await outbox.read(after, step.limit);
                const want = model.read(after, step.limit);
                expect(got?.seqs ?? []).toEqual(want.map((s) => s.seq));
                expect((got?.frames ?? []).map((f) => JSON.parse(f) as unknown)).toEqual(
                  want.map(asSent),
                );
                break;
              }
              case 'ack': {
                const upTo = pickSeq(model, step.at);
                expect(await outbox.acknowledge(upTo)).toBe(model.ack(upTo));
                break;
              }
              case 'reopen':
                await outbox.close();
                outbox = await Outbox.open(file);
                expect(outbox.stream).toBe(stream);
                break;
            }
            expect(outbox.pending).toBe(model.pending.length);
            expect(await outbox.oldestTs()).toBe(model.pending[0]?.item.ts ?? null);
          }
        } finally {
          await outbox.close();
        }
      }),
      { numRuns: 150 },
    );
  });

  it('under a tight quota, serves kept items unchanged and in order, and misses only what it dropped', async () => {
    const limits: OutboxLimits = { maxItems: 40, maxBytes: 1_000_000 };
    let run = 0;
    await fc.assert(
      fc.asyncProperty(ops, async (steps) => {
        const file = path.join(dir, `q-${run++}.db`);
        let outbox = await Outbox.open(file, limits);
        // Every item kept, by seq, and the gap items' totals as they are served.
        const kept = new Map<number, NewItem>();
        let lastSeq = 0;
        let acked = 0;
        const gaps = new Map<number, number>();
        const serve = async (after: number, limit: number) => {
          const got = await outbox.read(after, limit);
          const seqs = got?.seqs ?? [];
          seqs.forEach((seq, i) => {
            const { seq: _seq, ...sent } = JSON.parse(got!.frames[i]!) as NewItem & { seq: number };
            expect(seq).toBeGreaterThan(Math.max(after, acked));
            if (sent.name === 'gap') gaps.set(seq, sent.value as number);
            else expect(sent).toEqual(kept.get(seq));
          });
          // In order, each once.
          expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
          return seqs;
        };
        const model = new Model();
        try {
          for (const step of steps) {
            if (step.op === 'append' || step.op === 'bulk') {
              const items = step.op === 'bulk' ? model.bulk(step.count) : step.items;
              const dropped = outbox.dropped;
              // The model numbers what is kept; a quota run takes the seq after the batch.
              for (const s of model.keep(items)) kept.set(s.seq, s.item);
              await outbox.append(items, []);
              if (outbox.dropped > dropped) model.lastSeq++;
              lastSeq = model.lastSeq;
              expect(outbox.pending).toBeLessThanOrEqual(limits.maxItems);
            } else if (step.op === 'read') {
              await serve(pickSeq(model, step.after), step.limit);
            } else if (step.op === 'ack') {
              const upTo = pickSeq(model, step.at);
              await outbox.acknowledge(upTo);
              acked = Math.max(acked, Math.min(upTo, lastSeq));
              model.ack(upTo);
            } else {
              await outbox.close();
              outbox = await Outbox.open(file, limits);
            }
          }
          // All that is still there, then the account: every item kept and not acknowledged
          // is served, or counted by a gap.
          const served = new Set(await serve(acked, 1_000_000));
          expect(outbox.pending).toBe(served.size);
          const missing = [...kept.keys()].filter((seq) => seq > acked && !served.has(seq));
          const reported = [...gaps.values()].reduce((a, b) => a + b, 0);
          expect(missing.length).toBeLessThanOrEqual(outbox.dropped);
          expect(reported).toBeLessThanOrEqual(outbox.dropped);
          if (acked === 0) expect(missing.length).toBe(outbox.dropped);
        } finally {
          await outbox.close();
        }
      }),
      { numRuns: 100 },
    );
  });
});
