// The durable outbox: items wait here, numbered, until the server acknowledges them.
// Items, the tail cursors that produced them and the last state values are written in
// one transaction, so after a crash either all of a batch exists or none of it does and
// its log lines are simply read again.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ItemKind, NewItem } from '../transport/codec.ts';
import { serializeItems, splitStateKey, stateKey, type ItemBatch } from './batch.ts';
import { SqliteDb, type Tx } from './sqlite.ts';
import { asStorageError } from './storage-error.ts';

export interface FileCursor {
  source: string;
  /** Path relative to the source's folder. */
  path: string;
  /** Device and inode (or file id): tells a recreated file from the old one. */
  identity: string;
  /** Hash of the file's first bytes, for file systems without stable identities. */
  fingerprint: string;
  offset: number;
}

export interface StoredBatch {
  seqs: number[];
  /** Text of each item as sent, seq first. */
  frames: string[];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
  source TEXT NOT NULL,
  path TEXT NOT NULL,
  identity TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  offset INTEGER NOT NULL,
  PRIMARY KEY (source, path)
);
CREATE TABLE IF NOT EXISTS last_states (
  source TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (source, name)
);
`;

/**
 * A batch, its cursors and its changed states in one statement: inserting into this view runs
 * the trigger's three inserts as one transaction. A BEGIN, an insert per table and a COMMIT
 * each waited for the main thread to issue the next, which a backfill keeps busy; a commit
 * took twice as long as its work. Per connection (TEMP): nothing of it is stored in the file.
 */
const APPEND = `
CREATE TEMP VIEW IF NOT EXISTS appends (items, unchanged, cursors, states) AS
  SELECT NULL, NULL, NULL, NULL;
CREATE TEMP TRIGGER IF NOT EXISTS append_batch INSTEAD OF INSERT ON appends BEGIN
  INSERT INTO items (body) SELECT value FROM json_each(NEW.items)
    WHERE key NOT IN (SELECT value FROM json_each(NEW.unchanged));
  INSERT INTO cursors (source, path, identity, fingerprint, offset)
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4
    FROM json_each(NEW.cursors) WHERE true
    ON CONFLICT (source, path) DO UPDATE SET identity = excluded.identity,
      fingerprint = excluded.fingerprint, offset = excluded.offset;
  INSERT INTO last_states (source, name, value)
    SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(NEW.states) WHERE true
    ON CONFLICT (source, name) DO UPDATE SET value = excluded.value;
END;
`;

export interface OutboxLimits {
  maxItems: number;
  maxBytes: number;
}

export const DEFAULT_LIMITS: OutboxLimits = { maxItems: 2_000_000, maxBytes: 512 * 1024 * 1024 };

/** When the quota is hit, the least valuable items go first: a lost error costs most. */
const DROP_ORDER: readonly (readonly ItemKind[])[] = [
  ['metric', 'info', 'sysinfo', 'event'],
  ['state'],
  ['error'],
];
/** Dropping makes this much room below the quota, so that it does not run on every batch. */
const DROP_HEADROOM = 0.9;

export class Outbox extends EventEmitter<{ appended: []; dropped: [count: number] }> {
  private pendingCount = 0;
  private pendingBytes = 0;
  private droppedCount = 0;
  private readonly lastStates = new Map<string, string>();

  private constructor(
    private readonly db: SqliteDb,
    readonly stream: string,
    private readonly limits: OutboxLimits,
    private readonly file: string,
  ) {
    super();
  }

  static async open(file: string, limits: OutboxLimits = DEFAULT_LIMITS): Promise<Outbox> {
    try {
      return await Outbox.openOrFail(file, limits);
    } catch (err) {
      throw asStorageError(err, file);
    }
  }

  private static async openOrFail(file: string, limits: OutboxLimits): Promise<Outbox> {
    const db = await SqliteDb.open(file);
    // WAL keeps readers (the `status` command) off the writer's back; NORMAL sync is
    // crash-safe for the process, and a power cut only rolls back whole batches.
    await db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    await db.exec(SCHEMA);
    await dropDerivedColumns(db);
    await db.exec(APPEND);
    const stream = await db.transaction(async (tx) => {
      const row = await tx.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'stream'`);
      if (row) return row.value;
      const created = randomUUID();
      await tx.run(`INSERT INTO meta (key, value) VALUES ('stream', ?)`, [created]);
      return created;
    });
    const outbox = new Outbox(db, stream, limits, file);
    const count = await db.get<{ n: number; bytes: number }>(
      'SELECT count(*) AS n, coalesce(sum(length(body)), 0) AS bytes FROM items',
    );
    outbox.pendingCount = count?.n ?? 0;
    outbox.pendingBytes = count?.bytes ?? 0;
    const dropped = await db.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'dropped'`);
    outbox.droppedCount = Number(dropped?.value ?? 0);
    for (const row of await db.all<{ source: string; name: string; value: string }>(
      'SELECT source, name, value FROM last_states',
    )) {
      outbox.lastStates.set(stateKey(row.source, row.name), row.value);
    }
    return outbox;
  }

  /** What a stopped agent's outbox holds, read without taking it over. */
  static async peek(
    file: string,
  ): Promise<{ stream: string | null; pending: number; oldestTs: string | null }> {
    const db = await SqliteDb.open(file, { readonly: true });
    try {
      const stream = await db.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'stream'`);
      const count = await db.get<{ n: number }>('SELECT count(*) AS n FROM items');
      const oldest = await db.get<{ ts: string }>(OLDEST_TS);
      return {
        stream: stream?.value ?? null,
        pending: count?.n ?? 0,
        oldestTs: oldest?.ts ?? null,
      };
    } finally {
      await db.close();
    }
  }

  get pending(): number {
    return this.pendingCount;
  }

  /** Items dropped by the quota over the outbox's life. */
  get dropped(): number {
    return this.droppedCount;
  }

  async cursors(source: string): Promise<FileCursor[]> {
    return this.db.all<FileCursor>(
      'SELECT source, path, identity, fingerprint, offset FROM cursors WHERE source = ?',
      [source],
    );
  }

  /**
   * Stores items and the cursors that produced them atomically. `state` items whose value
   * equals the last one stored for their source and name are left out.
   */
  append(items: readonly NewItem[], cursors: readonly FileCursor[]): Promise<number> {
    return this.appendBatch(serializeItems(items), cursors);
  }

  /** As `append`, for items already serialized (by a parse worker); returns how many were kept. */
  async appendBatch(batch: ItemBatch, cursors: readonly FileCursor[]): Promise<number> {
    const unchanged = batch.firstStates.filter((s) => this.lastStates.get(s.key) === s.value);
    const changed = batch.lastStates.filter(([key, value]) => this.lastStates.get(key) !== value);
    const kept = batch.count - unchanged.length;
    // One statement for the whole batch: json_each keeps the array's order, and AUTOINCREMENT
    // hands out seqs that are never reused, even after deletes. Only the body is stored:
    // rows with extracted columns took twice as long to insert, and only the rare quota pass
    // and the oldest item need to look inside.
    await this.db
      .run('INSERT INTO appends (items, unchanged, cursors, states) VALUES (?, ?, ?, ?)', [
        kept > 0 ? batch.json : '[]',
        JSON.stringify(unchanged.map((s) => s.index)),
        JSON.stringify(cursors.map((c) => [c.source, c.path, c.identity, c.fingerprint, c.offset])),
        JSON.stringify(changed.map(([key, value]) => [...splitStateKey(key), value])),
      ])
      .catch((err: unknown) => {
        throw asStorageError(err, this.file);
      });
    for (const [key, value] of changed) this.lastStates.set(key, value);
    this.pendingCount += kept;
    // The array's brackets and commas are not stored.
    if (batch.count > 0) this.pendingBytes += batch.json.length - 1 - batch.count;
    for (const state of unchanged) this.pendingBytes -= state.size;
    if (this.pendingCount > this.limits.maxItems || this.pendingBytes > this.limits.maxBytes) {
      await this.enforceQuota();
    }
    if (kept > 0) this.emit('appended');
    return kept;
  }

  /**
   * Drops the oldest items of the least valuable kinds until the outbox is back under its
   * quota, and queues a `gap` item that tells the server what was lost: never silently.
   */
  private async enforceQuota(): Promise<void> {
    let excessItems = this.pendingCount - Math.floor(this.limits.maxItems * DROP_HEADROOM);
    let excessBytes = this.pendingBytes - Math.floor(this.limits.maxBytes * DROP_HEADROOM);
    const perKind: Record<string, number> = {};
    let first = Infinity;
    let last = -Infinity;
    let total = 0;
    let freedBytes = 0;
    await this.write(async (tx) => {
      for (const kinds of DROP_ORDER) {
        const marks = kinds.map(() => '?').join(',');
        let upTo = 0;
        while (excessItems > 0 || excessBytes > 0) {
          const rows = await tx.all<{ seq: number; ts: string; kind: string; size: number }>(
            `SELECT seq, ts, kind, size FROM (
               SELECT seq, body ->> '$.ts' AS ts, body ->> '$.kind' AS kind,
                 length(body) AS size FROM items WHERE seq > ?)
             WHERE kind IN (${marks}) ORDER BY seq LIMIT 10000`,
            [upTo, ...kinds],
          );
          if (rows.length === 0) break;
          for (const row of rows) {
            if (excessItems <= 0 && excessBytes <= 0) break;
            upTo = row.seq;
            total++;
            excessItems--;
            excessBytes -= row.size;
            freedBytes += row.size;
            perKind[row.kind] = (perKind[row.kind] ?? 0) + 1;
            const at = Date.parse(row.ts);
            first = Math.min(first, at);
            last = Math.max(last, at);
          }
        }
        if (upTo > 0)
          await tx.run(`DELETE FROM items WHERE body ->> '$.kind' IN (${marks}) AND seq <= ?`, [
            ...kinds,
            upTo,
          ]);
      }
      if (total === 0) return;
      const gap: NewItem = {
        ts: new Date().toISOString(),
        source: 'agent',
        name: 'gap',
        value: total,
        kind: 'agent',
        attrs: {
          ...perKind,
          from: new Date(first).toISOString(),
          to: new Date(last).toISOString(),
          reason: 'outbox quota',
        },
      };
      await tx.run('INSERT INTO items (body) VALUES (?)', [JSON.stringify(gap)]);
      await tx.run(
        `INSERT INTO meta (key, value) VALUES ('dropped', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [String(this.droppedCount + total)],
      );
    });
    if (total === 0) return;
    this.droppedCount += total;
    this.pendingCount += 1 - total;
    this.pendingBytes -= freedBytes;
    this.emit('dropped', total);
  }

  /** A write transaction whose failure says what is wrong with the storage. */
  private async write(work: (tx: Tx) => Promise<void>): Promise<void> {
    try {
      await this.db.transaction(work);
    } catch (err) {
      throw asStorageError(err, this.file);
    }
  }

  /** Forgets the cursor of a file that is gone (and whose rotated remains were read). */
  async forgetCursor(source: string, path: string): Promise<void> {
    await this.write((tx) =>
      tx
        .run('DELETE FROM cursors WHERE source = ? AND path = ?', [source, path])
        .then(() => undefined),
    );
  }

  /** Items after `afterSeq`, oldest first, as the JSON text they are sent in. */
  async read(afterSeq: number, limit: number): Promise<StoredBatch | null> {
    const rows = await this.db.all<{ seq: number; body: string }>(
      'SELECT seq, body FROM items WHERE seq > ? ORDER BY seq LIMIT ?',
      [afterSeq, limit],
    );
    if (rows.length === 0) return null;
    // The stored body is the item's JSON object: splice the seq in rather than re-encode.
    return {
      seqs: rows.map((r) => r.seq),
      frames: rows.map((r) => `{"seq":${r.seq},${r.body.slice(1)}`),
    };
  }

  /** Deletes everything up to `upTo`: the server has stored it durably. */
  async acknowledge(upTo: number): Promise<number> {
    const removed = await this.db
      .all<{ size: number }>('DELETE FROM items WHERE seq <= ? RETURNING length(body) AS size', [
        upTo,
      ])
      .catch((err: unknown) => {
        throw asStorageError(err, this.file);
      });
    this.pendingCount = Math.max(0, this.pendingCount - removed.length);
    for (const row of removed) this.pendingBytes -= row.size;
    return removed.length;
  }

  async oldestTs(): Promise<string | null> {
    const row = await this.db.get<{ ts: string }>(OLDEST_TS);
    return row?.ts ?? null;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

const OLDEST_TS = `SELECT body ->> '$.ts' AS ts FROM items ORDER BY seq LIMIT 1`;

/**
 * Outboxes of earlier builds also stored `ts` and `kind` as columns, taken from the body. They are
 * dropped in place: the table, its rows and its AUTOINCREMENT high mark all stay.
 */
async function dropDerivedColumns(db: SqliteDb): Promise<void> {
  const columns = await db.all<{ name: string }>('PRAGMA table_info(items)');
  for (const { name } of columns) {
    if (name === 'ts' || name === 'kind') await db.exec(`ALTER TABLE items DROP COLUMN ${name}`);
  }
}
