// Entries cross to a parse worker packed into one text and typed arrays: they must arrive as
// they left, whatever their lines hold (empty lines, blanks, non-ASCII, no lines at all).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../../src-agent/collect/entries.ts';
import {
  packEntries,
  transferables,
  unpackEntries,
} from '../../../src-agent/collect/packed-entries.ts';

// Lines are split at LF, so no line holds one; everything else may appear.
const line = fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replace(/\n/g, ''));
const entry: fc.Arbitrary<Entry> = fc.record({
  lines: fc.array(line, { minLength: 1, maxLength: 4 }),
  start: fc.nat({ max: 2 ** 40 }),
  end: fc.nat({ max: 2 ** 40 }),
  truncated: fc.boolean(),
});

describe('packed entries', () => {
  it('unpack to the entries that were packed', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 20 }), (entries) => {
        expect(unpackEntries(packEntries(entries))).toEqual(entries);
      }),
    );
  });

  it('arrive whole through a structured clone that hands the arrays over', () => {
    const entries: Entry[] = [
      {
        lines: ['<event a="1">', '', '  <message>ü</message></event>'],
        start: 3,
        end: 90,
        truncated: false,
      },
      { lines: ['x'.repeat(100)], start: 90, end: 2 ** 33, truncated: true },
    ];
    const packed = packEntries(entries);
    const copy = structuredClone(packed, { transfer: transferables(packed) });
    expect(packed.lineCounts.length).toBe(0);
    expect(unpackEntries(copy)).toEqual(entries);
  });
});
