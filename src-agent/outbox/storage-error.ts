// Failures of the agent's own database, told apart so the status can say what to do.
export class StorageError extends Error {
  constructor(
    readonly code: 'storage_full' | 'storage_corrupt' | 'storage_failed',
    message: string,
  ) {
    super(message);
  }
}

const HINTS: Record<StorageError['code'], string> = {
  storage_full: 'the disk holding the agent data is full: collection pauses until space is freed',
  storage_corrupt: 'the outbox database is damaged: move it aside; the agent then starts a new one',
  storage_failed: 'the outbox database cannot be written',
};

/** Wraps a sqlite3 error; other errors pass through unchanged. */
export function asStorageError(err: unknown, file: string): unknown {
  const code = (err as { code?: string }).code ?? '';
  if (!code.startsWith('SQLITE_')) return err;
  const kind =
    code === 'SQLITE_FULL'
      ? 'storage_full'
      : code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB'
        ? 'storage_corrupt'
        : 'storage_failed';
  return new StorageError(kind, `${HINTS[kind]} (${file}: ${(err as Error).message})`);
}
