// Durable storage for the reference server: devices with hashed tokens, items deduplicated on
// (device, stream, seq), and per-stream acknowledged seqs.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { SqliteDb } from '../src-agent/outbox/sqlite.ts';
import type { DeviceKind, Item } from '../src-agent/transport/codec.ts';

export interface StoredItem extends Item {
  device: string;
  stream: string;
}

export interface DeviceStats {
  id: string;
  kind: DeviceKind | null;
  model: string | null;
  items: number;
  /** When the server received the device's latest item (not the item's own `ts`). */
  lastItemAt: string | null;
  lastSeenAt: string | null;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    token_sha256 BLOB NOT NULL,
    kind TEXT,
    model TEXT,
    created_at TEXT NOT NULL,
    last_seen_at TEXT
  );
  CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    acked_seq INTEGER NOT NULL,
    UNIQUE (device_id, stream)
  );
  -- An item is kept as the JSON it was validated to. Extracting nine columns per item made
  -- the insert half as fast, and the ingest path is where a fleet's load lands.
  CREATE TABLE IF NOT EXISTS items (
    stream_id INTEGER NOT NULL REFERENCES streams (id),
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (stream_id, seq)
  );
`;

// A bearer token travels in an HTTP header, so it must be visible ASCII without spaces.
const TOKEN_PATTERN = /^[\x21-\x7e]{1,512}$/;

export async function openStore(dataDir: string): Promise<Store> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const db = await SqliteDb.open(path.join(dataDir, 'server.db'));
  try {
    await db.exec('PRAGMA journal_mode = WAL');
    // An ack promises the items survive a power cut, which WAL's default NORMAL does not.
    await db.exec('PRAGMA synchronous = FULL');
    await refuseEarlierLayout(db, dataDir);
    await db.exec(SCHEMA);
  } catch (error) {
    await db.close();
    throw error;
  }
  return new Store(db);
}

/**
 * Builds before this one kept items in columns keyed by device and stream text. Such a file
 * is left as it is, with a clear error, rather than half converted.
 */
async function refuseEarlierLayout(db: SqliteDb, dataDir: string): Promise<void> {
  const columns = await db.all<{ name: string }>('PRAGMA table_info(items)');
  if (columns.some((c) => c.name === 'device_id')) {
    throw new Error(
      `${path.join(dataDir, 'server.db')} was written by an earlier build of the server ` +
        '(items stored per device and stream name); it was left unchanged. ' +
        'Move it aside to start afresh, or run that build to read it.',
    );
  }
}

export class Store {
  // One connection serves every session; SqliteDb queues statements, so one frame's
  // transaction never interleaves with another's.
  constructor(private readonly db: SqliteDb) {}

  private waiting: WaitingBatch[] = [];
  private committing: Promise<void> | null = null;

  /**
   * Registers a device, or replaces its token when it exists. Returns the token.
   * Rejects an unusable id or token with a RangeError.
   */
  async addDevice(
    id: string,
    token: string = randomBytes(32).toString('base64url'),
  ): Promise<string> {
    // The limit of `device.id` in hello: a longer id could never connect.
    if (id.length < 1 || id.length > 128) {
      throw new RangeError('device id must be 1-128 characters');
    }
    if (!TOKEN_PATTERN.test(token)) {
      throw new RangeError('device token must be 1-512 visible ASCII characters without spaces');
    }
    await this.db.run(
      `INSERT INTO devices (id, token_sha256, created_at) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET token_sha256 = excluded.token_sha256`,
      [id, sha256(token), now()],
    );
    return token;
  }

  /** The id of the device the token belongs to, or null. */
  async authenticate(token: string): Promise<string | null> {
    const presented = sha256(token);
    const rows = await this.db.all<{ id: string; token_sha256: Buffer }>(
      'SELECT id, token_sha256 FROM devices',
    );
    // Every row is compared, match or not, so the answer time says nothing about the table.
    let match: string | null = null;
    for (const row of rows) {
      if (timingSafeEqual(row.token_sha256, presented)) match = row.id;
    }
    return match;
  }

  async recordHello(device: string, kind: DeviceKind, model: string | undefined): Promise<void> {
    await this.db.run('UPDATE devices SET kind = ?, model = ?, last_seen_at = ? WHERE id = ?', [
      kind,
      model ?? null,
      now(),
      device,
    ]);
  }

  async touchDevice(device: string): Promise<void> {
    await this.db.run('UPDATE devices SET last_seen_at = ? WHERE id = ?', [now(), device]);
  }

  /** The highest seq durably stored for the stream, 0 for a stream not seen yet. */
  async ackedSeq(device: string, stream: string): Promise<number> {
    const row = await this.db.get<{ acked_seq: number }>(
      'SELECT acked_seq FROM streams WHERE device_id = ? AND stream = ?',
      [device, stream],
    );
    return row?.acked_seq ?? 0;
  }

  /**
   * Stores a batch; seqs already stored are skipped, not overwritten. Resolves after the
   * COMMIT that holds it with the batch's highest seq, the value an ack may carry.
   */
  storeItems(device: string, stream: string, items: readonly Item[]): Promise<number> {
    if (items.length === 0) return Promise.reject(new Error('storeItems needs at least one item'));
    const highest = Math.max(...items.map((item) => item.seq));
    return new Promise((resolve, reject) => {
      this.waiting.push({ device, stream, items, highest, done: resolve, fail: reject });
      if (!this.committing) this.committing = this.commitWaiting();
    });
  }

  /**
   * Group commit: batches that arrive while a COMMIT is on its way to the disk share the next
   * one. With synchronous = FULL each COMMIT waits for the disk, and a commit per frame made
   * that wait the server's limit.
   */
  private async commitWaiting(): Promise<void> {
    while (this.waiting.length > 0) {
      const group = this.waiting.splice(0);
      const receivedAt = now();
      try {
        await this.db.transaction(async (tx) => {
          for (const { device, stream, items, highest } of group) {
            const row = await tx.get<{ id: number }>(
              `INSERT INTO streams (device_id, stream, acked_seq) VALUES (?, ?, ?)
               ON CONFLICT (device_id, stream) DO UPDATE SET acked_seq = max(acked_seq, excluded.acked_seq)
               RETURNING id`,
              [device, stream, highest],
            );
            // One statement per frame: the items travel as one JSON array, which keeps a
            // 500-item frame to a single round trip into SQLite.
            await tx.run(
              `INSERT OR IGNORE INTO items (stream_id, seq, body, received_at)
               SELECT ?, value ->> '$.seq', value, ? FROM json_each(?)`,
              [row!.id, receivedAt, JSON.stringify(items)],
            );
            await tx.run('UPDATE devices SET last_seen_at = ? WHERE id = ?', [receivedAt, device]);
          }
        });
        for (const batch of group) batch.done(batch.highest);
      } catch (error) {
        for (const batch of group) batch.fail(error);
      }
    }
    this.committing = null;
  }

  /** Items in the order they were received; with `limit`, only the latest `limit` of them. */
  async listItems(query: { device?: string; limit?: number } = {}): Promise<StoredItem[]> {
    const rows = await this.db.all<ItemRow>(
      `SELECT * FROM (
         SELECT i.rowid AS row, s.device_id, s.stream, i.body
         FROM items i JOIN streams s ON s.id = i.stream_id
         WHERE ?1 IS NULL OR s.device_id = ?1
         ORDER BY i.rowid DESC LIMIT ?2
       ) ORDER BY row`,
      [query.device ?? null, query.limit ?? -1],
    );
    return rows.map((row) => ({
      device: row.device_id,
      stream: row.stream,
      ...(JSON.parse(row.body) as Item),
    }));
  }

  stats(): Promise<DeviceStats[]> {
    return this.db.all<DeviceStats>(
      `SELECT d.id, d.kind, d.model, count(i.seq) AS items,
              max(i.received_at) AS lastItemAt, d.last_seen_at AS lastSeenAt
       FROM devices d
       LEFT JOIN streams s ON s.device_id = d.id
       LEFT JOIN items i ON i.stream_id = s.id
       GROUP BY d.id ORDER BY d.id`,
    );
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

interface WaitingBatch {
  device: string;
  stream: string;
  items: readonly Item[];
  highest: number;
  done: (highest: number) => void;
  fail: (error: unknown) => void;
}

interface ItemRow {
  device_id: string;
  stream: string;
  body: string;
}

const sha256 = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();
const now = (): string => new Date().toISOString();
