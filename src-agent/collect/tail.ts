// Reads what a log file gained since its cursor. Files are opened, read and closed on
// each pass, never held: on Windows the instrument software must stay free to rename
// or delete them at any time.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { FileCursor } from '../outbox/outbox.ts';
import { decode, detectEncoding } from './decode.ts';
import { frameLines, type Entry, type Line } from './entries.ts';
import { splitLines } from './lines.ts';
import type { SourceParser } from './parse.ts';

const FINGERPRINT_BYTES = 256;
export const READ_CHUNK_BYTES = 4 * 1024 * 1024;

export interface TailPass {
  entries: Entry[];
  cursor: FileCursor;
  /** An entry at the end of the file that may still get continuation lines. */
  open: Entry | null;
  atEof: boolean;
  replacementChars: number;
  orphanLines: number;
  /** A line longer than one read was cut. */
  oversized: boolean;
}

export interface TailTarget {
  source: string;
  /** Path relative to the source folder (the cursor key). */
  relPath: string;
  absPath: string;
  encoding: string;
  parser: SourceParser;
}

/**
 * One read of at most READ_CHUNK_BYTES from the cursor on. `flushOpen` ends an entry
 * still open at the end of the file: the caller decides when the writer has settled.
 */
export async function tailOnce(
  target: TailTarget,
  previous: FileCursor | undefined,
  flushOpen: boolean,
): Promise<TailPass | null> {
  const handle = await open(target.absPath, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (!handle) return null;
  try {
    const info = await handle.stat();
    if (!info.isFile()) return null;
    const head = Buffer.alloc(Math.min(FINGERPRINT_BYTES, info.size));
    await handle.read(head, 0, head.length, 0);
    const identity = `${info.dev}:${info.ino}`;
    const fingerprint = createHash('sha256').update(head).digest('base64url').slice(0, 22);
    const encoding = detectEncoding(head, target.encoding);

    let offset = previous?.offset ?? 0;
    const replaced =
      previous !== undefined &&
      (previous.identity !== identity || !sameStart(previous, fingerprint, head.length));
    if (replaced || info.size < offset) offset = 0;
    offset = Math.max(offset, encoding.bomLength);

    const length = Math.min(info.size - offset, READ_CHUNK_BYTES);
    const chunk = Buffer.alloc(Math.max(0, length));
    if (length > 0) await handle.read(chunk, 0, length, offset);
    const atEof = offset + length >= info.size;

    let replacementChars = 0;
    const lines: Line[] = splitLines(chunk, offset, encoding).map((raw) => {
      const text = decode(raw.bytes, encoding);
      replacementChars += countReplacements(text);
      return { text, start: raw.start, end: raw.end };
    });
    const framed = frameLines(lines, target.parser.frame);
    let open = framed.open;
    const entries = framed.entries;
    // An entry that fills a whole read can never complete: take it as cut.
    const stuck = open !== null && entries.length === 0 && !atEof && open.start === offset;
    if (open && (flushOpen || stuck)) {
      entries.push(stuck ? { ...open, truncated: true } : open);
      open = null;
    }
    const lastEnd = lines.length > 0 ? lines[lines.length - 1]!.end : offset;
    const oversized = lines.length === 0 && length === READ_CHUNK_BYTES;
    const nextOffset = open ? open.start : oversized ? offset + length : lastEnd;
    return {
      entries,
      open,
      atEof,
      replacementChars,
      orphanLines: framed.orphans,
      oversized,
      cursor: {
        source: target.source,
        path: target.relPath,
        identity,
        fingerprint,
        offset: nextOffset,
      },
    };
  } finally {
    await handle.close();
  }
}

/** A file that only grew keeps its first bytes; while it is shorter than the fingerprint, it still grows into it. */
function sameStart(previous: FileCursor, fingerprint: string, headLength: number): boolean {
  return (
    previous.fingerprint === fingerprint ||
    headLength < FINGERPRINT_BYTES ||
    previous.offset < FINGERPRINT_BYTES
  );
}

function countReplacements(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\uFFFD'); i >= 0; i = text.indexOf('\uFFFD', i + 1)) n++;
  return n;
}
