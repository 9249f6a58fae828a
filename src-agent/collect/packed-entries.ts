// A read's entries as they cross to a parse worker: the read's bytes, handed over rather than
// copied, and where each entry starts and how many lines it has. The worker decodes the bytes
// into lines as the reader did (decodeLines) and groups them again. Sent as text, every line
// was copied twice on the main thread (joined, then cloned): a quarter of its time during a
// backfill.
import type { Encoding } from './decode.ts';
import type { Entry } from './entries.ts';
import { decodeLines } from './lines.ts';

/** The bytes a read framed its entries from. */
export interface ReadBytes {
  bytes: Uint8Array;
  /** File offset of the first byte. */
  offset: number;
  encoding: Encoding;
}

export interface PackedEntries {
  read: ReadBytes;
  lineCounts: Uint32Array;
  starts: Float64Array;
  ends: Float64Array;
  truncated: Uint8Array;
}

export function packEntries(entries: readonly Entry[], read: ReadBytes): PackedEntries {
  const n = entries.length;
  const packed: PackedEntries = {
    read,
    lineCounts: new Uint32Array(n),
    starts: new Float64Array(n),
    ends: new Float64Array(n),
    truncated: new Uint8Array(n),
  };
  for (let i = 0; i < n; i++) {
    const entry = entries[i]!;
    packed.lineCounts[i] = entry.lines.length;
    packed.starts[i] = entry.start;
    packed.ends[i] = entry.end;
    packed.truncated[i] = entry.truncated ? 1 : 0;
  }
  return packed;
}

/**
 * The entries again. `maxLineChars` is the source's entry limit: framing cuts a line longer
 * than that to that length (frameLines), and no line of an entry is longer.
 */
export function unpackEntries(packed: PackedEntries, maxLineChars: number): Entry[] {
  const { bytes, offset, encoding } = packed.read;
  const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { lines } = decodeLines(chunk, offset, encoding);
  const entries: Entry[] = [];
  let at = 0;
  for (let i = 0; i < packed.lineCounts.length; i++) {
    const start = packed.starts[i]!;
    const count = packed.lineCounts[i]!;
    while (at < lines.length && lines[at]!.start < start) at++;
    if (lines[at]?.start !== start || at + count > lines.length) {
      throw new Error(`entry ${i} (at byte ${start}) does not match the lines of its read`);
    }
    const texts: string[] = [];
    for (let k = at; k < at + count; k++) {
      const text = lines[k]!.text;
      texts.push(text.length > maxLineChars ? text.slice(0, maxLineChars) : text);
    }
    entries.push({
      lines: texts,
      start,
      end: packed.ends[i]!,
      truncated: packed.truncated[i] === 1,
    });
    at += count;
  }
  return entries;
}

/**
 * The buffers to hand over rather than copy: gone from this thread once posted. A read's bytes
 * have a buffer of their own (tailOnce); Node's shared buffer pool would be copied, not taken.
 */
export const transferables = (packed: PackedEntries): ArrayBuffer[] =>
  [
    packed.read.bytes.buffer,
    packed.lineCounts.buffer,
    packed.starts.buffer,
    packed.ends.buffer,
    packed.truncated.buffer,
  ] as ArrayBuffer[];
