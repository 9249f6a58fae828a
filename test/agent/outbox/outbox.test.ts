import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox, type FileCursor } from '../../../src-agent/outbox/outbox.ts';
import { ROW_ITEMS } from '../../../src-agent/outbox/batch.ts';
import { SqliteDb } from '../../../src-agent/outbox/sqlite.ts';
import type { NewItem } from '../../../src-agent/transport/codec.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'outbox-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const metric = (value: number): NewItem => ({
  ts: '2026-11-30T08:00:00.000Z',
  source: 'em-server',
  name: 'vacuum.gun',
  value,
  unit: 'mbar',
  kind: 'metric',
});
const state = (value: string): NewItem => ({
  ...metric(0),
  name: 'vacuum.status',
  value,
  kind: 'state',
  unit: undefined,
});
const cursor = (offset: number): FileCursor => ({
  source: 'em-server',
  path: 'EM Server.log',
  identity: '1:2',
  fingerprint: 'f',
  offset,
});

describe('Outbox', () => {
  it('numbers items in order and serves them as sent, seq first', async () => {
    const outbox = await Outbox.open(path.join(dir, 'o.db'));
    await outbox.append([metric(1), metric(2), metric(3)], []);
    const batch = await outbox.read(0, 2);
    expect(batch?.seqs).toEqual([1, 2]);
    expect(JSON.parse(batch!.frames[1]!)).toEqual({ seq: 2, ...metric(2) });
    expect((await outbox.read(2, 10))?.seqs).toEqual([3]);
    expect(outbox.pending).toBe(3);
    await outbox.close();
  });

  it('deletes on ack and never reuses a seq, across restarts', async () => {
    const file = path.join(dir, 'o.db');
    let outbox = await Outbox.open(file);
    const stream = outbox.stream;
    await outbox.append([metric(1), metric(2)], []);
    expect(await outbox.acknowledge(2)).toBe(2);
    expect(outbox.pending).toBe(0);
    await outbox.close();
    outbox = await Outbox.open(file);
    expect(outbox.stream).toBe(stream);
    await outbox.append([metric(3)], []);
    expect((await outbox.read(0, 10))?.seqs).toEqual([3]);
    await outbox.close();
  });

  it('stores cursors with the items and reads them back after a restart', async () => {
    const file = path.join(dir, 'o.db');
    let outbox = await Outbox.open(file);
    await outbox.append([metric(1)], [cursor(120)]);
    await outbox.close();
    outbox = await Outbox.open(file);
    expect(await outbox.cursors('em-server')).toEqual([cursor(120)]);
    expect(await Outbox.peek(file)).toMatchObject({ pending: 1, stream: outbox.stream });
    await outbox.close();
  });

  it('keeps state items only when their value changes, remembered across restarts', async () => {
    const file = path.join(dir, 'o.db');
    let outbox = await Outbox.open(file);
    expect(
      await outbox.append([state('Ready'), state('Ready'), state('Vent'), state('Vent')], []),
    ).toBe(2);
    await outbox.close();
    outbox = await Outbox.open(file);
    expect(await outbox.append([state('Vent'), state('Ready')], [])).toBe(1);
    const values = (await outbox.read(0, 10))!.frames.map((f) => JSON.parse(f).value);
    expect(values).toEqual(['Ready', 'Vent', 'Ready']);
    await outbox.close();
  });

  it('takes over an outbox of the earlier layout: rows, seqs and oldest time kept', async () => {
    const file = path.join(dir, 'old.db');
    const old = await SqliteDb.open(file);
    await old.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO meta VALUES ('stream', 'b3f6c1de-0000-4000-8000-000000000001');
      CREATE TABLE items (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL,
        kind TEXT NOT NULL, body TEXT NOT NULL);`);
    // With and without a unit, with attributes, a string value and a null one.
    const items: NewItem[] = [
      { ...metric(1), ts: '2026-11-30T08:00:01.000Z' },
      { ...metric(2), ts: '2026-11-30T08:00:02.000Z' },
      { ...state('Vent "A"'), ts: '2026-11-30T08:00:03.000Z' },
      {
        ts: '2026-11-30T08:00:04.000Z',
        source: 'em-server',
        name: 'error',
        value: null,
        kind: 'error',
        attrs: { code: 'E1', line: 12, fatal: false, none: null },
      },
    ];
    for (const item of items) {
      await old.run('INSERT INTO items (ts, kind, body) VALUES (?, ?, ?)', [
        item.ts,
        item.kind,
        JSON.stringify(item),
      ]);
    }
    // Seq 1 was acknowledged: its number must never be handed out again.
    await old.run('DELETE FROM items WHERE seq = 1');
    await old.close();

    const outbox = await Outbox.open(file);
    expect(outbox.stream).toBe('b3f6c1de-0000-4000-8000-000000000001');
    expect(outbox.pending).toBe(3);
    expect(await outbox.oldestTs()).toBe('2026-11-30T08:00:02.000Z');
    const taken = await outbox.read(0, 10);
    expect(taken?.seqs).toEqual([2, 3, 4]);
    expect(taken?.frames.map((f) => JSON.parse(f) as unknown)).toEqual(
      items.slice(1).map((item, i) => ({ seq: i + 2, ...item })),
    );
    await outbox.acknowledge(4);
    await outbox.append([metric(5)], []);
    const batch = await outbox.read(0, 10);
    expect(batch?.seqs).toEqual([5]);
    expect(JSON.parse(batch!.frames[0]!)).toEqual({ seq: 5, ...metric(5) });
    await outbox.close();
  });

  it('acknowledges part of a batch: the rest stays pending and keeps its seqs, across restarts', async () => {
    const file = path.join(dir, 'part.db');
    let outbox = await Outbox.open(file);
    const items = Array.from({ length: 10 }, (_, i) => ({
      ...metric(i + 1),
      ts: `2026-11-30T08:00:${String(i).padStart(2, '0')}.000Z`,
    }));
    await outbox.append(items, []);
    expect(await outbox.acknowledge(4)).toBe(4);
    // Acks that arrive late or twice remove nothing more.
    expect(await outbox.acknowledge(3)).toBe(0);
    expect(await outbox.acknowledge(4)).toBe(0);
    expect(outbox.pending).toBe(6);
    expect((await outbox.read(0, 100))?.seqs).toEqual([5, 6, 7, 8, 9, 10]);
    await outbox.close();

    outbox = await Outbox.open(file);
    expect(outbox.pending).toBe(6);
    expect(await outbox.oldestTs()).toBe('2026-11-30T08:00:04.000Z');
    expect(await Outbox.peek(file)).toMatchObject({
      pending: 6,
      oldestTs: '2026-11-30T08:00:04.000Z',
    });
    const batch = await outbox.read(0, 2);
    expect(batch?.seqs).toEqual([5, 6]);
    expect(JSON.parse(batch!.frames[0]!)).toEqual({ seq: 5, ...items[4] });
    expect(await outbox.acknowledge(10)).toBe(6);
    expect(outbox.pending).toBe(0);
    expect(await outbox.oldestTs()).toBeNull();
    await outbox.close();

    outbox = await Outbox.open(file);
    await outbox.append([metric(11)], []);
    expect((await outbox.read(0, 10))?.seqs).toEqual([11]);
    await outbox.close();
  });

  it('takes an acknowledgement beyond the last seq as far as the last seq only', async () => {
    const outbox = await Outbox.open(path.join(dir, 'beyond.db'));
    await outbox.append([metric(1), metric(2)], []);
    expect(await outbox.acknowledge(1000)).toBe(2);
    await outbox.append([metric(3)], []);
    expect((await outbox.read(2, 10))?.seqs).toEqual([3]);
    expect(outbox.pending).toBe(1);
    await outbox.close();
  });

  it('stores a large batch as rows of at most ROW_ITEMS items, seqs running on', async () => {
    const file = path.join(dir, 'rows.db');
    const outbox = await Outbox.open(file);
    const many = Array.from({ length: 2 * ROW_ITEMS + 200 }, (_, i) => metric(i));
    expect(await outbox.append([state('Ready'), ...many], [cursor(99)])).toBe(many.length + 1);
    const batch = await outbox.read(0, 10_000);
    expect(batch?.seqs).toEqual(Array.from({ length: many.length + 1 }, (_, i) => i + 1));
    expect(JSON.parse(batch!.frames.at(-1)!)).toEqual({ seq: many.length + 1, ...many.at(-1) });
    await outbox.close();
    const db = await SqliteDb.open(file, { readonly: true });
    const rows = await db.all<{ first_seq: number; last_seq: number; live: number }>(
      'SELECT first_seq, last_seq, live FROM batches ORDER BY last_seq',
    );
    await db.close();
    expect(rows.every((r) => r.live <= ROW_ITEMS && r.last_seq - r.first_seq + 1 === r.live)).toBe(
      true,
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.map((r) => r.first_seq).slice(1)).toEqual(
      rows.map((r) => r.last_seq + 1).slice(0, -1),
    );
  });

  it('makes a new database with 16 KiB pages, and keeps an older one at its own', async () => {
    const pageSize = async (file: string) => {
      const db = await SqliteDb.open(file);
      const row = await db.get<{ page_size: number }>('PRAGMA page_size');
      await db.close();
      return row?.page_size;
    };
    const fresh = path.join(dir, 'fresh.db');
    await (await Outbox.open(fresh)).close();
    const older = path.join(dir, 'older.db');
    const old = await SqliteDb.open(older);
    await old.exec(
      'PRAGMA page_size = 4096; CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);',
    );
    await old.close();
    const outbox = await Outbox.open(older);
    await outbox.append([metric(1)], []);
    await outbox.close();
    expect([await pageSize(fresh), await pageSize(older)]).toEqual([16384, 4096]);
  });

  it('a stream id is a UUID and differs between databases', async () => {
    const a = await Outbox.open(path.join(dir, 'a.db'));
    const b = await Outbox.open(path.join(dir, 'b.db'));
    expect(a.stream).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.stream).not.toBe(b.stream);
    await a.close();
    await b.close();
  });
});

describe('Outbox quota', () => {
  const error = (n: number): NewItem => ({
    ...metric(n),
    name: 'error',
    value: `E${n}`,
    kind: 'error',
    unit: undefined,
  });

  it('drops the oldest metrics first, keeps errors, and reports the gap', async () => {
    const outbox = await Outbox.open(path.join(dir, 'q.db'), { maxItems: 1000, maxBytes: 1 << 30 });
    const drops: number[] = [];
    outbox.on('dropped', (n) => drops.push(n));
    await outbox.append([error(0), ...Array.from({ length: 900 }, (_, i) => metric(i + 1))], []);
    await outbox.append(
      [state('Ready'), ...Array.from({ length: 200 }, (_, i) => metric(1000 + i))],
      [],
    );
    // 1,102 items against a quota of 1,000: down to 900, then one gap item.
    expect(outbox.pending).toBe(901);
    expect(outbox.dropped).toBe(202);
    expect(drops).toEqual([202]);
    const items = (await outbox.read(0, 10_000))!.frames.map((f) => JSON.parse(f));
    expect(items).toHaveLength(901);
    expect(items[0]).toMatchObject({ kind: 'error', value: 'E0' });
    expect(items.some((i) => i.kind === 'state')).toBe(true);
    const metrics = items.filter((i) => i.kind === 'metric').map((i) => i.value);
    expect(metrics[0]).toBe(203);
    const gap = items.at(-1);
    expect(gap).toMatchObject({
      kind: 'agent',
      name: 'gap',
      value: 202,
      attrs: { metric: 202, reason: 'outbox quota' },
    });
    await outbox.close();
    expect((await Outbox.open(path.join(dir, 'q.db'))).dropped).toBe(202);
  });

  it('drops states and then errors only when nothing else is left', async () => {
    const outbox = await Outbox.open(path.join(dir, 'q2.db'), {
      maxItems: 1000,
      maxBytes: 1 << 30,
    });
    const states = Array.from({ length: 600 }, (_, i) => state(`S${i}`));
    const errors = Array.from({ length: 500 }, (_, i) => error(i));
    await outbox.append([...errors, ...states], []);
    const items = (await outbox.read(0, 10_000))!.frames.map((f) => JSON.parse(f));
    expect(items.filter((i) => i.kind === 'state')).toHaveLength(400);
    expect(items.filter((i) => i.kind === 'error')).toHaveLength(500);
    expect(items.at(-1).attrs).toMatchObject({ state: 200 });
    await outbox.close();
  });

  it('keeps the seqs of the items it keeps, and counts the holes out of acknowledgements', async () => {
    const file = path.join(dir, 'q4.db');
    const outbox = await Outbox.open(file, { maxItems: 10, maxBytes: 1 << 30 });
    // In one batch: E0 m1 m2 E3 m4 m5 E6 m7 m8 E9 m10 m11, 12 items; down to 9 by dropping
    // the oldest three metrics, then the gap item.
    const mixed = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? error(i) : metric(i)));
    await outbox.append(mixed, []);
    expect(outbox.dropped).toBe(3);
    const before = (await outbox.read(0, 100))!;
    expect(before.seqs).toEqual([1, 4, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(JSON.parse(before.frames[1]!)).toMatchObject({ seq: 4, value: 'E3' });
    // Seqs 1 to 9 hold six items now.
    expect(await outbox.acknowledge(9)).toBe(6);
    expect(outbox.pending).toBe(4);
    await outbox.close();
    const reopened = await Outbox.open(file, { maxItems: 10, maxBytes: 1 << 30 });
    expect(reopened.pending).toBe(4);
    expect((await reopened.read(0, 100))!.seqs).toEqual([10, 11, 12, 13]);
    await reopened.close();
  });

  it('enforces a byte quota too', async () => {
    const outbox = await Outbox.open(path.join(dir, 'q3.db'), {
      maxItems: 1_000_000,
      maxBytes: 50_000,
    });
    await outbox.append(
      Array.from({ length: 1000 }, (_, i) => metric(i)),
      [],
    );
    expect(outbox.dropped).toBeGreaterThan(0);
    expect(outbox.pending).toBeLessThan(1000);
    await outbox.close();
    // The quota counts what the database holds.
    const db = await SqliteDb.open(path.join(dir, 'q3.db'), { readonly: true });
    const stored = await db.get<{ bytes: number }>(
      'SELECT sum(length(items)) AS bytes FROM batches',
    );
    await db.close();
    expect(stored!.bytes).toBeLessThanOrEqual(50_000);
  });
});
