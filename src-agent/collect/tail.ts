// Reads what a log file gained since its cursor. Files are opened, read and closed on
// each pass, never held: on Windows the instrument software must stay free to rename
// or delete them at any time.
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import type { FileCursor } from '../outbox/outbox.ts';
import { detectEncoding } from './decode.ts';
import { openEntryStart } from './entries.ts';
import { completeLength, linesFromEnd } from './lines.ts';
import type { ReadBytes } from './read-entries.ts';
import type { SourceParser } from './parse.ts';

const FINGERPRINT_BYTES = 256;
/**
 * Reads are this size: small reads keep the items of one read (and the garbage they leave)
 * small, which was worth a quarter of the agent's peak memory against 1 MiB reads at the
 * same rate. A read without one whole entry grows, up to MAX_READ_BYTES: entries up to that
 * size still arrive whole.
 */
export const READ_CHUNK_BYTES = 256 * 1024;
export const MAX_READ_BYTES = 1024 * 1024;

export interface TailPass {
  /** The whole entries read. */
  read: ReadBytes;
  cursor: FileCursor;
  /** Where an entry at the end of the file lies that may still get continuation lines. */
  open: { start: number; end: number } | null;
  atEof: boolean;
  /** The file's size when it was read. */
  size: number;
  /** Its modification time then: with the size, what tells whether it was written since. */
  mtimeMs: number;
  /** A line longer than one read was cut. */
  oversized: boolean;
}

/** A log file of a source, where it is now. */
export interface FileTarget {
  source: string;
  /** Path relative to the source folder (the cursor key). */
  relPath: string;
  absPath: string;
  encoding: string;
}

export interface TailTarget extends FileTarget {
  parser: SourceParser;
}

/** What a file is at one moment: enough to tell whether a cursor still belongs to it. */
export interface FileProbe {
  identity: string;
  size: number;
  mtimeMs: number;
  /** The first bytes, for the fingerprint and the byte order mark. */
  head: Buffer;
}

/** What the file at `absPath` is now, or null when there is no regular file. */
export async function probeFile(absPath: string): Promise<FileProbe | null> {
  const handle = await open(absPath, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'EISDIR') return null;
    throw err;
  });
  if (!handle) return null;
  try {
    return await probeHandle(handle);
  } finally {
    await handle.close();
  }
}

async function probeHandle(handle: FileHandle): Promise<FileProbe | null> {
  const info = await handle.stat();
  if (!info.isFile()) return null;
  const head = Buffer.alloc(Math.min(FINGERPRINT_BYTES, info.size));
  const { bytesRead } = await handle.read(head, 0, head.length, 0);
  return {
    identity: `${info.dev}:${info.ino}`,
    size: info.size,
    mtimeMs: info.mtimeMs,
    head: head.subarray(0, bytesRead),
  };
}

/** `<length>:<hash>` of the first bytes: a file that only grew keeps the same start. */
export function fingerprint(head: Buffer): string {
  return `${head.length}:${createHash('sha256').update(head).digest('base64url').slice(0, 22)}`;
}

/** Whether `probe` is still the file `cursor` was reading (not replaced, not rewritten). */
export function isSameFile(cursor: FileCursor, probe: FileProbe): boolean {
  if (cursor.identity !== probe.identity) return false;
  const length = Number(cursor.fingerprint.split(':', 1)[0]);
  if (!Number.isInteger(length) || length > probe.head.length) return false;
  return fingerprint(probe.head.subarray(0, length)) === cursor.fingerprint;
}

/**
 * One read from the cursor on (see READ_CHUNK_BYTES). `flushOpen` ends an entry still open
 * at the end of the file, if the read reaches it: the caller decides when the writer has
 * settled.
 */
export async function tailOnce(
  target: TailTarget,
  previous: FileCursor | undefined,
  flushOpen: boolean,
): Promise<TailPass | null> {
  const handle = await open(target.absPath, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'EISDIR') return null;
    throw err;
  });
  if (!handle) return null;
  try {
    const probe = await probeHandle(handle);
    if (!probe) return null;
    const encoding = detectEncoding(probe.head, target.encoding);

    // A replaced or truncated (copy-truncate) file is read again from its start.
    let offset =
      previous && isSameFile(previous, probe) && probe.size >= previous.offset
        ? previous.offset
        : 0;
    offset = Math.max(offset, encoding.bomLength);

    let window = READ_CHUNK_BYTES;
    for (;;) {
      const length = Math.max(0, Math.min(probe.size - offset, window));
      const chunk = Buffer.alloc(length);
      const { bytesRead } =
        length > 0 ? await handle.read(chunk, 0, length, offset) : { bytesRead: 0 };
      const bytes = chunk.subarray(0, bytesRead);
      const atEof = offset + bytesRead >= probe.size;

      const complete = completeLength(bytes, encoding);
      const lastLines = linesFromEnd(bytes, offset, encoding);
      const openAt = openEntryStart(lastLines, target.parser.frame);
      // An entry that fills a whole read cannot complete in it: a bigger read, or else cut.
      const stuck = openAt === offset && !atEof;
      const oversized = complete === 0 && bytesRead === window;
      if ((stuck || oversized) && window < MAX_READ_BYTES) {
        window = Math.min(window * 4, MAX_READ_BYTES);
        continue;
      }
      // The entry open at the end waits for its continuation lines, unless it is cut, or the
      // caller ends it (its writer has settled) and it is the file's last: one open at the end
      // of a read within the file goes on in the next read.
      const held = openAt !== null && !(flushOpen && atEof) && !stuck ? openAt : null;
      const entriesEnd = held ?? offset + complete;
      return {
        read: { bytes: bytes.subarray(0, entriesEnd - offset), offset, encoding, lastCut: stuck },
        open: held === null ? null : { start: held, end: offset + complete },
        atEof,
        size: probe.size,
        mtimeMs: probe.mtimeMs,
        oversized,
        cursor: {
          source: target.source,
          path: target.relPath,
          identity: probe.identity,
          fingerprint: fingerprint(probe.head),
          offset: oversized ? offset + bytesRead : entriesEnd,
        },
      };
    }
  } finally {
    await handle.close();
  }
}
