// A read's entries as they cross to a parse worker: one text and four typed arrays instead of
// an object and an array per entry. Copying thousands of small objects between threads cost
// the main thread a tenth of its time during a backfill, and the worker about as much again.
import type { Entry } from './entries.ts';

export interface PackedEntries {
  /** Every line of every entry, joined by LF: lines are split at LF, so none holds one. */
  text: string;
  lineCounts: Uint32Array;
  starts: Float64Array;
  ends: Float64Array;
  truncated: Uint8Array;
}

export function packEntries(entries: readonly Entry[]): PackedEntries {
  const n = entries.length;
  const packed: PackedEntries = {
    text: '',
    lineCounts: new Uint32Array(n),
    starts: new Float64Array(n),
    ends: new Float64Array(n),
    truncated: new Uint8Array(n),
  };
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const entry = entries[i]!;
    packed.lineCounts[i] = entry.lines.length;
    packed.starts[i] = entry.start;
    packed.ends[i] = entry.end;
    packed.truncated[i] = entry.truncated ? 1 : 0;
    for (const line of entry.lines) lines.push(line);
  }
  packed.text = lines.join('\n');
  return packed;
}

export function unpackEntries(packed: PackedEntries): Entry[] {
  const lines = packed.text.split('\n');
  const entries: Entry[] = [];
  let next = 0;
  for (let i = 0; i < packed.lineCounts.length; i++) {
    const count = packed.lineCounts[i]!;
    entries.push({
      lines: lines.slice(next, next + count),
      start: packed.starts[i]!,
      end: packed.ends[i]!,
      truncated: packed.truncated[i] === 1,
    });
    next += count;
  }
  return entries;
}

/** The buffers to hand over rather than copy. */
export const transferables = (packed: PackedEntries): ArrayBuffer[] =>
  [
    packed.lineCounts.buffer,
    packed.starts.buffer,
    packed.ends.buffer,
    packed.truncated.buffer,
  ] as ArrayBuffer[];
