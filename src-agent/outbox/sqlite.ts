// A promise face on the `sqlite3` package with one rule added: every statement and
// transaction on the connection runs in turn. sqlite3 would otherwise interleave the
// statements of two async callers, and a reader could see (and send) rows of a
// transaction that has not committed yet.
import sqlite3 from 'sqlite3';

export type Params = unknown[] | Record<string, unknown>;

export interface Tx {
  run(sql: string, params?: Params): Promise<{ changes: number; lastID: number }>;
  get<T>(sql: string, params?: Params): Promise<T | undefined>;
  all<T>(sql: string, params?: Params): Promise<T[]>;
  exec(sql: string): Promise<void>;
}

export class SqliteDb implements Tx {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly db: sqlite3.Database) {}

  static open(file: string, { readonly = false } = {}): Promise<SqliteDb> {
    const mode = readonly ? sqlite3.OPEN_READONLY : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE;
    return new Promise((resolve, reject) => {
      const db = new sqlite3.Database(file, mode, (err) => {
        if (err) reject(err);
        else {
          db.configure('busyTimeout', 5000);
          resolve(new SqliteDb(db));
        }
      });
    });
  }

  private raw(): Tx {
    const db = this.db;
    return {
      run: (sql, params = []) =>
        new Promise((resolve, reject) => {
          db.run(sql, params, function (err) {
            if (err) reject(err);
            else resolve({ changes: this.changes, lastID: this.lastID });
          });
        }),
      get: <T>(sql: string, params: Params = []) =>
        new Promise<T | undefined>((resolve, reject) => {
          db.get(sql, params, (err, row) => (err ? reject(err) : resolve(row as T | undefined)));
        }),
      all: <T>(sql: string, params: Params = []) =>
        new Promise<T[]>((resolve, reject) => {
          db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[])));
        }),
      exec: (sql) =>
        new Promise((resolve, reject) => {
          db.exec(sql, (err) => (err ? reject(err) : resolve()));
        }),
    };
  }

  private enqueue<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const result = this.queue.then(() => work(this.raw()));
    this.queue = result.catch(() => undefined);
    return result;
  }

  run(sql: string, params?: Params) {
    return this.enqueue((tx) => tx.run(sql, params));
  }
  get<T>(sql: string, params?: Params) {
    return this.enqueue((tx) => tx.get<T>(sql, params));
  }
  all<T>(sql: string, params?: Params) {
    return this.enqueue((tx) => tx.all<T>(sql, params));
  }
  exec(sql: string) {
    return this.enqueue((tx) => tx.exec(sql));
  }

  /** Runs `work` inside BEGIN IMMEDIATE ... COMMIT; nothing else runs on this connection meanwhile. */
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.enqueue(async (tx) => {
      await tx.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(tx);
        await tx.exec('COMMIT');
        return result;
      } catch (err) {
        await tx.exec('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  close(): Promise<void> {
    return this.enqueue(
      () =>
        new Promise<void>((resolve, reject) =>
          this.db.close((err) => (err ? reject(err) : resolve())),
        ),
    );
  }
}
