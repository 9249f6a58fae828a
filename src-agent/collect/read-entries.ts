// A read as it goes to be parsed: its bytes, which hold whole entries only (tailOnce), framed
// into entries where they are parsed, in a parse worker during a backfill. The reader decodes
// only the read's last lines, to know where its next read starts. It used to frame each read
// itself (a quarter of its busy samples in a profile of a ZEN backfill) and send the entries'
// places along, and the worker decoded the same bytes again: 9% slower on a 50 MB ZEN log, 7%
// on a 100 MB EM log.
import type { Encoding } from './decode.ts';
import { frameLines, type Entry, type FrameRules } from './entries.ts';
import { decodeLines } from './lines.ts';

export interface ReadBytes {
  /** Whole entries: the last one ends where the bytes end. */
  bytes: Uint8Array;
  /** File offset of the first byte. */
  offset: number;
  encoding: Encoding;
  /** The last entry was cut: it did not fit in the largest read. */
  lastCut: boolean;
}

export interface ReadEntries {
  entries: Entry[];
  /** U+FFFD characters the decoder put in for invalid bytes. */
  replacements: number;
}

export function readEntries(read: ReadBytes, rules: FrameRules): ReadEntries {
  const { bytes, offset, encoding } = read;
  const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { lines, replacements } = decodeLines(chunk, offset, encoding);
  const { entries, open } = frameLines(lines, rules);
  if (open) entries.push(read.lastCut ? { ...open, truncated: true } : open);
  return { entries, replacements };
}

/**
 * The buffer to hand over rather than copy: gone from this thread once posted. A read's bytes
 * have a buffer of their own (tailOnce); Node's shared buffer pool would be copied, not taken.
 */
export const transferables = (read: ReadBytes): ArrayBuffer[] => [read.bytes.buffer as ArrayBuffer];
