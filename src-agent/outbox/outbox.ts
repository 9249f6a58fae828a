// The durable outbox: items wait here, numbered, until the server acknowledges them.
// Items, the tail cursors that produced them and the last state values are written in
// one transaction, so after a crash either all of a batch exists or none of it does and
// its log lines are simply read again.
//
// A table row holds up to ROW_ITEMS items of a batch as one JSON array of stored rows
// (batch.ts), numbered from `first_seq` on. A table row per item cost a backfill twice the
// CPU: SQLite inserted millions of small rows where it now writes a few larger ones. An item
// dropped by the quota becomes null in its array, so every other item keeps its seq; an
// acknowledgement inside a row moves the `acked` mark, and the row goes when its last item
// is acknowledged.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ItemKind, NewItem } from '../transport/codec.ts';
import {
  fromRow,
  serializeItems,
  splitStateKey,
  stateKey,
  ROW_ITEMS,
  toRow,
  type ItemBatch,
  type StoredRow,
} from './batch.ts';
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

// `live`: items not dropped; `size`: the array's length in characters, for the quota.
// AUTOINCREMENT keeps the highest seq ever stored in sqlite_sequence, so a seq is never
// handed out twice, even after every row was deleted.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
  last_seq INTEGER PRIMARY KEY AUTOINCREMENT,
  first_seq INTEGER NOT NULL,
  live INTEGER NOT NULL,
  size INTEGER NOT NULL,
  items TEXT NOT NULL
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
 * A batch, its cursors and its changed states in one statement: inserting into this view (a
 * value list per table row) runs the trigger's inserts, all in the statement's one
 * transaction. A BEGIN, an insert per table and a COMMIT each waited for the main thread to
 * issue the next, which a backfill keeps busy; a commit took twice as long as its work. Per
 * connection (TEMP): nothing of it is stored in the file.
 */
const APPEND = `
CREATE TEMP VIEW IF NOT EXISTS appends (first_seq, count, size, items, cursors, states) AS
  SELECT NULL, NULL, NULL, NULL, NULL, NULL;
CREATE TEMP TRIGGER IF NOT EXISTS append_batch INSTEAD OF INSERT ON appends BEGIN
  INSERT INTO batches (last_seq, first_seq, live, size, items)
    SELECT NEW.first_seq + NEW.count - 1, NEW.first_seq, NEW.count, NEW.size, NEW.items
    WHERE NEW.count > 0;
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
  /** The highest seq handed out. */
  private lastSeq = 0;
  /** Everything up to here is acknowledged, though its row may still hold later items. */
  private ackedSeq = 0;
  private readonly lastStates = new Map<string, string>();
  /** The row read last, as frames: a read may end within it, and the next one go on there. */
  private readCache: DecodedRow | null = null;

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
    // crash-safe for the process, and a power cut only rolls back whole batches. A row of up
    // to 500 items (some 50 KB) spills over fewer pages of 16 KiB than of 4 KiB: storing a
    // backfill took a third less CPU. The page size holds only for a database made here;
    // one made before keeps its own.
    await db.exec(
      'PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;',
    );
    await db.exec(SCHEMA);
    await db.exec(APPEND);
    const stream = await db.transaction(async (tx) => {
      await takeOverItemRows(tx);
      const row = await tx.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'stream'`);
      if (row) return row.value;
      const created = randomUUID();
      await tx.run(`INSERT INTO meta (key, value) VALUES ('stream', ?)`, [created]);
      return created;
    });
    const outbox = new Outbox(db, stream, limits, file);
    outbox.ackedSeq = await readAcked(db);
    const pending = await countPending(db, outbox.ackedSeq);
    outbox.pendingCount = pending.count;
    outbox.pendingBytes = pending.bytes;
    const last = await db.get<{ seq: number }>(
      `SELECT seq FROM sqlite_sequence WHERE name = 'batches'`,
    );
    outbox.lastSeq = last?.seq ?? 0;
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
      const acked = await readAcked(db);
      return {
        stream: stream?.value ?? null,
        pending: (await countPending(db, acked)).count,
        oldestTs: await oldestTs(db, acked),
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
    const unchanged = new Set(
      batch.firstStates.filter((s) => this.lastStates.get(s.key) === s.value).map((s) => s.run),
    );
    const changed = batch.lastStates.filter(([key, value]) => this.lastStates.get(key) !== value);
    const kept = batch.count - unchanged.size;
    // Seqs are taken before the statement is queued, both in call order: batches stored by
    // overlapping calls never share a seq, and a failed one leaves no gap if it was the last.
    const firstSeq = this.lastSeq + 1;
    this.lastSeq += kept;
    const rows = toRows(batch, unchanged, firstSeq);
    // One statement, so one transaction: a row per value list, the cursors and states with the
    // last (the trigger stores a row only if it holds items).
    const params = rows.flatMap((row) => [
      row.firstSeq,
      row.count,
      row.text.length,
      row.text,
      '[]',
      '[]',
    ]);
    params[params.length - 2] = JSON.stringify(
      cursors.map((c) => [c.source, c.path, c.identity, c.fingerprint, c.offset]),
    );
    params[params.length - 1] = JSON.stringify(
      changed.map(([key, value]) => [...splitStateKey(key), value]),
    );
    await this.db
      .run(
        `INSERT INTO appends (first_seq, count, size, items, cursors, states) VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}`,
        params,
      )
      .catch((err: unknown) => {
        if (this.lastSeq === firstSeq + kept - 1) this.lastSeq = firstSeq - 1;
        throw asStorageError(err, this.file);
      });
    for (const [key, value] of changed) this.lastStates.set(key, value);
    if (kept > 0) {
      this.pendingCount += kept;
      for (const row of rows) this.pendingBytes += row.text.length;
    }
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
    const excess = {
      items: this.pendingCount - Math.floor(this.limits.maxItems * DROP_HEADROOM),
      bytes: this.pendingBytes - Math.floor(this.limits.maxBytes * DROP_HEADROOM),
    };
    const gap = new GapTally();
    let freedBytes = 0;
    // Taken now, as appends take theirs: they may queue while this transaction runs.
    const gapSeq = ++this.lastSeq;
    await this.write(async (tx) => {
      for (const kinds of DROP_ORDER) {
        let after = this.ackedSeq;
        while (excess.items > 0 || excess.bytes > 0) {
          const row = await tx.get<BatchRow>(ROW_AFTER_SQL, [after]);
          if (!row) break;
          after = row.last_seq;
          const items = JSON.parse(row.items) as (StoredRow | null)[];
          let live = 0;
          let dropped = false;
          items.forEach((item, i) => {
            if (item === null) return;
            const acked = row.first_seq + i <= this.ackedSeq;
            if (!acked && kinds.includes(item[3]) && (excess.items > 0 || excess.bytes > 0)) {
              items[i] = null;
              dropped = true;
              excess.items--;
              excess.bytes -= JSON.stringify(item).length;
              gap.add(fromRow(item));
            } else live++;
          });
          if (!dropped) continue;
          if (live === 0) {
            await tx.run('DELETE FROM batches WHERE last_seq = ?', [row.last_seq]);
            freedBytes += row.size;
          } else {
            const text = JSON.stringify(items);
            await tx.run('UPDATE batches SET live = ?, size = ?, items = ? WHERE last_seq = ?', [
              live,
              text.length,
              text,
              row.last_seq,
            ]);
            freedBytes += row.size - text.length;
          }
        }
      }
      if (gap.total === 0) return;
      const text = `[${JSON.stringify(toRow(gap.item()))}]`;
      await tx.run(
        'INSERT INTO batches (last_seq, first_seq, live, size, items) VALUES (?, ?, 1, ?, ?)',
        [gapSeq, gapSeq, text.length, text],
      );
      await tx.run(
        `INSERT INTO meta (key, value) VALUES ('dropped', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [String(this.droppedCount + gap.total)],
      );
      freedBytes -= text.length;
    });
    // Rows were rewritten: what was read of them is stale.
    this.readCache = null;
    if (gap.total === 0) {
      if (this.lastSeq === gapSeq) this.lastSeq--;
      return;
    }
    this.droppedCount += gap.total;
    this.pendingCount += 1 - gap.total;
    this.pendingBytes -= freedBytes;
    this.emit('dropped', gap.total);
  }

  /** A write transaction whose failure says what is wrong with the storage. */
  private async write<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction(work);
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
    const seqs: number[] = [];
    const frames: string[] = [];
    let after = Math.max(afterSeq, this.ackedSeq);
    while (seqs.length < limit) {
      const row = await this.rowAfter(after);
      if (!row) break;
      let seq = Math.max(after + 1, row.firstSeq);
      for (; seq < row.firstSeq + row.frames.length && seqs.length < limit; seq++) {
        const frame = row.frames[seq - row.firstSeq];
        if (frame === null || frame === undefined) continue;
        seqs.push(seq);
        frames.push(frame);
      }
      after = seq - 1;
    }
    return seqs.length > 0 ? { seqs, frames } : null;
  }

  /** The row that holds the first seq after `after`, or the first one after that. */
  private async rowAfter(after: number): Promise<DecodedRow | null> {
    const cached = this.readCache;
    if (
      cached &&
      cached.firstSeq <= after + 1 &&
      after + 1 < cached.firstSeq + cached.frames.length
    ) {
      return cached;
    }
    const row = await this.db.get<BatchRow>(ROW_AFTER_SQL, [after]);
    if (!row) return null;
    this.readCache = decodeRow(row);
    return this.readCache;
  }

  /** Deletes everything up to `upTo`: the server has stored it durably. */
  async acknowledge(upTo: number): Promise<number> {
    // Acks may overlap: each takes the mark that the one before it left, inside its turn.
    return this.write(async (tx) => {
      const from = this.ackedSeq;
      // The server cannot have stored what was never numbered: a higher mark would hide the
      // items stored next from every later read.
      const mark = Math.min(upTo, this.lastSeq);
      if (mark <= from) return 0;
      const rows = await tx.all<{
        first_seq: number;
        last_seq: number;
        live: number;
        size: number;
      }>(
        'SELECT first_seq, last_seq, live, size FROM batches WHERE last_seq > ? AND first_seq <= ?',
        [from, mark],
      );
      let removed = 0;
      for (const row of rows) {
        const lo = Math.max(from, row.first_seq - 1);
        const hi = Math.min(mark, row.last_seq);
        // Only the quota leaves holes in a row; without them, seqs count the items.
        removed +=
          row.live === row.last_seq - row.first_seq + 1
            ? hi - lo
            : await liveBetween(tx, row.last_seq, lo, hi);
        if (row.last_seq <= mark) this.pendingBytes -= row.size;
      }
      await tx.run('DELETE FROM batches WHERE last_seq <= ?', [mark]);
      await tx.run(
        `INSERT INTO meta (key, value) VALUES ('acked', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [String(mark)],
      );
      // Stored by the server whether or not this commit succeeds: never to be read again.
      this.ackedSeq = mark;
      this.pendingCount = Math.max(0, this.pendingCount - removed);
      return removed;
    });
  }

  async oldestTs(): Promise<string | null> {
    return oldestTs(this.db, this.ackedSeq);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/**
 * The kept runs of a batch as stored rows of up to ROW_ITEMS items, numbered from `firstSeq`;
 * one empty row if nothing is kept, which carries the cursors alone.
 */
function toRows(
  batch: ItemBatch,
  unchanged: ReadonlySet<number>,
  firstSeq: number,
): { firstSeq: number; count: number; text: string }[] {
  const rows: { firstSeq: number; count: number; text: string }[] = [];
  let runs: string[] = [];
  let count = 0;
  let next = firstSeq;
  const endRow = () => {
    rows.push({ firstSeq: next, count, text: `[${runs.join(',')}]` });
    next += count;
    runs = [];
    count = 0;
  };
  batch.runs.forEach((run, i) => {
    if (unchanged.has(i)) return;
    const items = batch.runCounts[i]!;
    if (count > 0 && count + items > ROW_ITEMS) endRow();
    runs.push(run);
    count += items;
  });
  if (count > 0 || rows.length === 0) endRow();
  return rows;
}

/** The first stored row with an item after the given seq. */
const ROW_AFTER_SQL =
  'SELECT first_seq, last_seq, size, items FROM batches WHERE last_seq > ? ORDER BY last_seq LIMIT 1';

interface BatchRow {
  first_seq: number;
  last_seq: number;
  size: number;
  items: string;
}

interface DecodedRow {
  firstSeq: number;
  /** Each item's frame by position; null where the quota dropped the item. */
  frames: (string | null)[];
}

/** Each stored row as the wire's object, the seq in front of its first key. */
function decodeRow(row: BatchRow): DecodedRow {
  const items = JSON.parse(row.items) as (StoredRow | null)[];
  return {
    firstSeq: row.first_seq,
    frames: items.map((item, i) =>
      item === null
        ? null
        : `{"seq":${row.first_seq + i},${JSON.stringify(fromRow(item)).slice(1)}`,
    ),
  };
}

/** What the quota dropped, for the `gap` item that reports it. */
class GapTally {
  total = 0;
  private readonly perKind: Record<string, number> = {};
  private first = Infinity;
  private last = -Infinity;

  add(item: NewItem): void {
    this.total++;
    this.perKind[item.kind] = (this.perKind[item.kind] ?? 0) + 1;
    const at = Date.parse(item.ts);
    this.first = Math.min(this.first, at);
    this.last = Math.max(this.last, at);
  }

  item(): NewItem {
    return {
      ts: new Date().toISOString(),
      source: 'agent',
      name: 'gap',
      value: this.total,
      kind: 'agent',
      attrs: {
        ...this.perKind,
        from: new Date(this.first).toISOString(),
        to: new Date(this.last).toISOString(),
        reason: 'outbox quota',
      },
    };
  }
}

async function readAcked(db: Tx): Promise<number> {
  const row = await db.get<{ value: string }>(`SELECT value FROM meta WHERE key = 'acked'`);
  return Number(row?.value ?? 0);
}

/** Items not dropped in the row ending at `lastSeq` with seqs in (lo, hi]. */
async function liveBetween(db: Tx, lastSeq: number, lo: number, hi: number): Promise<number> {
  const row = await db.get<{ n: number }>(
    `SELECT count(*) AS n FROM batches, json_each(items)
     WHERE last_seq = ? AND type <> 'null' AND first_seq + key > ? AND first_seq + key <= ?`,
    [lastSeq, lo, hi],
  );
  return row?.n ?? 0;
}

async function countPending(db: Tx, acked: number): Promise<{ count: number; bytes: number }> {
  const all = await db.get<{ n: number; bytes: number }>(
    'SELECT coalesce(sum(live), 0) AS n, coalesce(sum(size), 0) AS bytes FROM batches',
  );
  // The row that the acknowledged mark falls in still holds items that are no longer pending.
  const partial = await db.get<{ last_seq: number; first_seq: number }>(
    'SELECT first_seq, last_seq FROM batches WHERE first_seq <= ? AND last_seq > ?',
    [acked, acked],
  );
  const done = partial ? await liveBetween(db, partial.last_seq, partial.first_seq - 1, acked) : 0;
  return { count: (all?.n ?? 0) - done, bytes: all?.bytes ?? 0 };
}

async function oldestTs(db: Tx, acked: number): Promise<string | null> {
  const row = await db.get<{ ts: string }>(
    `SELECT ts FROM (
       SELECT (SELECT value ->> 0 FROM json_each(items)
               WHERE type = 'array' AND first_seq + key > ? LIMIT 1) AS ts
       FROM batches WHERE last_seq > ? ORDER BY last_seq)
     WHERE ts IS NOT NULL LIMIT 1`,
    [acked, acked],
  );
  return row?.ts ?? null;
}

/**
 * Outboxes of earlier builds stored an `items` row per item, its body the wire's object
 * (some with `ts` and `kind` columns beside it). Each becomes a batch of one with its own
 * seq, and the highest seq they ever used carries over, so that none is handed out again.
 */
async function takeOverItemRows(tx: Tx): Promise<void> {
  const legacy = await tx.get(
    `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items'`,
  );
  if (!legacy) return;
  await tx.exec(`
    INSERT INTO batches (last_seq, first_seq, live, size, items)
      SELECT seq, seq, 1, length(row), row FROM (
        SELECT seq, json_array(CASE
          WHEN body -> 'attrs' IS NOT NULL THEN json_array(body ->> 'ts', body ->> 'source',
            body ->> 'name', body ->> 'kind', body -> 'value', body ->> 'unit', body -> 'attrs')
          WHEN body -> 'unit' IS NOT NULL THEN json_array(body ->> 'ts', body ->> 'source',
            body ->> 'name', body ->> 'kind', body -> 'value', body ->> 'unit')
          ELSE json_array(body ->> 'ts', body ->> 'source', body ->> 'name', body ->> 'kind',
            body -> 'value') END) AS row
        FROM items) ORDER BY seq;
    INSERT INTO sqlite_sequence (name, seq)
      SELECT 'batches', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'batches');
    UPDATE sqlite_sequence SET seq = max(seq,
        coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'items'), 0))
      WHERE name = 'batches';
    DROP TABLE items;
  `);
}
