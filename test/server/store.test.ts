import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqliteDb } from '../../src-agent/outbox/sqlite.ts';
import type { Item } from '../../src-agent/transport/codec.ts';
import { openStore, type Store } from '../../src-server/store.ts';

const item = (seq: number, value: Item['value'] = seq): Item => ({
  seq,
  ts: '2026-11-30T08:00:01.250+01:00',
  source: 'em-server',
  name: 'gun.filament.hours',
  value,
  unit: 'h',
  kind: 'metric',
});

describe('store', () => {
  let dir: string;
  let store: Store;
  const stream = randomUUID();

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scopelink-store-'));
    store = await openStore(dir);
    await store.addDevice('EM-1');
  });

  afterEach(async () => {
    await store.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('stores a resent seq once, keeping the first copy', async () => {
    expect(await store.storeItems('EM-1', stream, [item(1, 'first'), item(2)])).toBe(2);
    expect(await store.storeItems('EM-1', stream, [item(1, 'resent'), item(3)])).toBe(3);

    const items = await store.listItems();
    expect(items.map((stored) => stored.seq)).toEqual([1, 2, 3]);
    expect(items[0]?.value).toBe('first');
  });

  it('keeps the highest acked seq of a stream when an older batch is stored again', async () => {
    expect(await store.ackedSeq('EM-1', stream)).toBe(0);
    await store.storeItems('EM-1', stream, [item(5), item(7)]);
    await store.storeItems('EM-1', stream, [item(2)]);

    expect(await store.ackedSeq('EM-1', stream)).toBe(7);
    expect(await store.ackedSeq('EM-1', randomUUID())).toBe(0);
  });

  it('keeps the same seq of different streams apart', async () => {
    const other = randomUUID();
    await store.storeItems('EM-1', stream, [item(1)]);
    await store.storeItems('EM-1', other, [item(1)]);

    expect((await store.listItems()).map((stored) => stored.stream)).toEqual([stream, other]);
  });

  it('runs concurrent batches one transaction after the other', async () => {
    const batches = [1, 2, 3, 4].map((n) =>
      store.storeItems('EM-1', stream, [item(n * 10), item(n * 10 + 1)]),
    );

    expect(await Promise.all(batches)).toEqual([11, 21, 31, 41]);
    expect(await store.listItems()).toHaveLength(8);
  });

  it('commits the batches that arrive during a commit together, in one transaction', async () => {
    const transactions = vi.spyOn(SqliteDb.prototype, 'transaction');
    try {
      const first = store.storeItems('EM-1', stream, [item(1)]);
      // These arrive while the first one's COMMIT is under way.
      const later = [2, 3, 4, 5].map((n) => store.storeItems('EM-1', stream, [item(n)]));
      expect(await Promise.all([first, ...later])).toEqual([1, 2, 3, 4, 5]);
      expect(transactions).toHaveBeenCalledTimes(2);
      expect(await store.ackedSeq('EM-1', stream)).toBe(5);
      expect((await store.listItems()).map((stored) => stored.seq)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      transactions.mockRestore();
    }
  });

  it('leaves a database of the earlier layout unchanged and says so', async () => {
    await store.close();
    const file = path.join(dir, 'server.db');
    const old = await SqliteDb.open(file);
    await old.exec(`DROP TABLE items;
      CREATE TABLE items (device_id TEXT NOT NULL, stream TEXT NOT NULL, seq INTEGER NOT NULL,
        ts TEXT NOT NULL, received_at TEXT NOT NULL);
      INSERT INTO items VALUES ('EM-1', 's', 1, '2026-11-30T08:00:00Z', '2026-11-30T08:00:01Z');`);
    await old.close();
    await expect(openStore(dir)).rejects.toThrow(/earlier build .* left unchanged/);
    const reopened = await SqliteDb.open(file);
    expect(await reopened.get('SELECT count(*) AS n FROM items')).toEqual({ n: 1 });
    await reopened.close();
  });

  it('round-trips values, units and attrs, and omits what was absent', async () => {
    const error: Item = {
      seq: 9,
      ts: '2026-11-30T07:00:02.000Z',
      source: 'em-server',
      name: 'error',
      value: 'E1204 Vacuum gauge timeout',
      kind: 'error',
      attrs: { code: 'E1204', line: 88121, fatal: false, extra: null },
    };
    await store.storeItems('EM-1', stream, [item(7, null), item(8, true), error]);

    const items = await store.listItems();
    expect(items.map((stored) => stored.value)).toEqual([null, true, error.value]);
    expect(items[2]).toEqual({ device: 'EM-1', stream, ...error });
    expect(items[2]).not.toHaveProperty('unit');
    expect(items[0]).not.toHaveProperty('attrs');
  });

  it('lists the latest items of one device in received order', async () => {
    await store.addDevice('LM-2');
    await store.storeItems('EM-1', stream, [item(1), item(2), item(3)]);
    await store.storeItems('LM-2', stream, [item(1)]);

    const items = await store.listItems({ device: 'EM-1', limit: 2 });
    expect(items.map((stored) => [stored.device, stored.seq])).toEqual([
      ['EM-1', 2],
      ['EM-1', 3],
    ]);
  });

  it('counts items per device and records when they arrived', async () => {
    await store.addDevice('LM-2');
    await store.recordHello('EM-1', 'em', 'GeminiSEM 560');
    await store.storeItems('EM-1', stream, [item(1), item(2)]);

    const [em, lm] = await store.stats();
    expect(em).toMatchObject({ id: 'EM-1', kind: 'em', model: 'GeminiSEM 560', items: 2 });
    expect(Date.parse(em?.lastItemAt ?? '')).not.toBeNaN();
    expect(Date.parse(em?.lastSeenAt ?? '')).not.toBeNaN();
    expect(lm).toEqual({
      id: 'LM-2',
      kind: null,
      model: null,
      items: 0,
      lastItemAt: null,
      lastSeenAt: null,
    });
  });
});

describe('device tokens', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scopelink-tokens-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('authenticates a token as its device and nothing else', async () => {
    const store = await openStore(dir);
    const em = await store.addDevice('EM-1');
    const lm = await store.addDevice('LM-2', 'lm-token-0123456789');

    expect(em).toMatch(/^[\w-]{43}$/);
    expect(await store.authenticate(em)).toBe('EM-1');
    expect(await store.authenticate('lm-token-0123456789')).toBe('LM-2');
    expect(await store.authenticate(`${lm}x`)).toBeNull();
    await store.close();
  });

  it('revokes the old token when a device gets a new one', async () => {
    const store = await openStore(dir);
    const old = await store.addDevice('EM-1');
    const renewed = await store.addDevice('EM-1');

    expect(await store.authenticate(old)).toBeNull();
    expect(await store.authenticate(renewed)).toBe('EM-1');
    await store.close();
  });

  it('refuses a token that cannot travel in a header', async () => {
    const store = await openStore(dir);
    await expect(store.addDevice('EM-1', 'two words')).rejects.toThrow(RangeError);
    await expect(store.addDevice('', 'token')).rejects.toThrow(RangeError);
    await store.close();
  });

  it('writes only the SHA-256 of a token to disk', async () => {
    const token = 'raw-token-that-must-never-reach-the-disk';
    const store = await openStore(dir);
    await store.addDevice('EM-1', token);
    await store.close();

    const files = ['server.db', 'server.db-wal'].map((name) => path.join(dir, name));
    const bytes = Buffer.concat(
      await Promise.all(files.filter((file) => existsSync(file)).map((file) => readFile(file))),
    );
    expect(bytes.includes(Buffer.from(token))).toBe(false);
    expect(bytes.includes(createHash('sha256').update(token).digest())).toBe(true);
  });
});
