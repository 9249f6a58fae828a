// The agent's outbox as the benches watch it from outside the agent. Its layout is
// src-agent/outbox/outbox.ts's: table rows of up to ROW_ITEMS items, each one JSON array of
// stored rows (batch.ts) numbered from `first_seq` on, null where the quota dropped one.
import { fromRow, type StoredRow } from '../src-agent/outbox/batch.ts';

interface Reader {
  all<T>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** The newest seq and the read offsets summed: how far an ingest has come, both by key. */
export const PROGRESS_SQL = `SELECT (SELECT coalesce(max(last_seq), 0) FROM batches) AS seq,
  (SELECT coalesce(sum(offset), 0) FROM cursors) AS offset`;

/** Items stored and not dropped; exact while nothing is acknowledged. */
export const COUNT_SQL = 'SELECT coalesce(sum(live), 0) AS n FROM batches';

export interface StoredItem {
  seq: number;
  /** The item's JSON object, without its seq. */
  body: string;
}

const ROWS_PER_QUERY = 16;

/** The items after `afterSeq` in seq order: at least `atLeast` of them, where there are. */
export async function itemsAfter(
  db: Reader,
  afterSeq: number,
  atLeast = Infinity,
): Promise<StoredItem[]> {
  const items: StoredItem[] = [];
  let after = afterSeq;
  while (items.length < atLeast) {
    const rows = await db.all<{ first_seq: number; last_seq: number; items: string }>(
      'SELECT first_seq, last_seq, items FROM batches WHERE last_seq > ? ORDER BY last_seq LIMIT ?',
      [after, ROWS_PER_QUERY],
    );
    if (rows.length === 0) break;
    for (const row of rows) {
      (JSON.parse(row.items) as (StoredRow | null)[]).forEach((item, i) => {
        const seq = row.first_seq + i;
        if (item !== null && seq > afterSeq) {
          items.push({ seq, body: JSON.stringify(fromRow(item)) });
        }
      });
      after = row.last_seq;
    }
  }
  return items;
}
