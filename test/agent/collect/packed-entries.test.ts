// Entries cross to a parse worker as their read's bytes and where each entry starts: the
// worker must frame the same entries out of them, whatever the lines hold (empty lines,
// blanks, non-ASCII, CRLF, lines cut at the entry limit) and in every encoding.
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { detectEncoding } from '../../../src-agent/collect/decode.ts';
import { frameLines } from '../../../src-agent/collect/entries.ts';
import { decodeLines } from '../../../src-agent/collect/lines.ts';
import {
  packEntries,
  transferables,
  unpackEntries,
  type ReadBytes,
} from '../../../src-agent/collect/packed-entries.ts';

/** Lines starting with # start an entry; the rest continue it. */
function framedRead(text: string, encodingName: string, offset: number, maxEntryChars: number) {
  const encoding = detectEncoding(Buffer.alloc(0), encodingName);
  // A buffer of its own, as the reader's are (Buffer.alloc): small encodes share Node's pool.
  const bytes = Buffer.from(new Uint8Array(iconv.encode(text, encodingName)).buffer);
  const { lines } = decodeLines(bytes, offset, encoding);
  const { entries } = frameLines(lines, { startsEntry: (t) => t.startsWith('#'), maxEntryChars });
  return { entries, read: { bytes, offset, encoding } satisfies ReadBytes };
}

const line = fc.tuple(
  fc.boolean(),
  fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, '')),
  fc.constantFrom('\n', '\r\n'),
);

describe('packed entries', () => {
  it('unpack to the entries that were framed from the same bytes', () => {
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 30 }),
        fc.constantFrom('utf8', 'cp1252', 'utf16le', 'utf16be', 'shift_jis'),
        fc.nat({ max: 2 ** 40 }),
        fc.integer({ min: 1, max: 40 }),
        (lines, encodingName, offset, maxEntryChars) => {
          const text = lines.map(([start, t, eol]) => `${start ? '#' : ''}${t}${eol}`).join('');
          const { entries, read } = framedRead(text, encodingName, offset, maxEntryChars);
          expect(unpackEntries(packEntries(entries, read), maxEntryChars)).toEqual(entries);
        },
      ),
    );
  });

  it('arrive whole through a structured clone that hands the bytes over', () => {
    const text =
      '#<event a="1">\r\n\r\n  <message>ü</message></event>\r\n#' + 'x'.repeat(100) + '\n#\n';
    const { entries, read } = framedRead(text, 'utf8', 2 ** 33, 50);
    expect(entries).toHaveLength(2);
    expect(entries[1]!.truncated).toBe(true);
    const packed = packEntries(entries, read);
    const copy = structuredClone(packed, { transfer: transferables(packed) });
    expect(read.bytes.byteLength).toBe(0);
    expect(unpackEntries(copy, 50)).toEqual(entries);
  });

  // Node marks its buffer pool untransferable, so that no handover takes it from its users.
  it("leave bytes in Node's shared buffer pool to their other users", () => {
    const pool = Buffer.from('unrelated#a\n#b\n');
    const { entries, read } = framedRead('#a\n#b\n', 'utf8', 0, 100);
    const shared = { ...read, bytes: pool.subarray(9) };
    const packed = packEntries(entries, shared);
    const copy = structuredClone(packed, { transfer: transferables(packed) });
    expect(pool.toString()).toBe('unrelated#a\n#b\n');
    expect(unpackEntries(copy, 100)).toEqual(entries);
  });

  it('refuse entries that are not of the bytes sent with them', () => {
    const { entries } = framedRead('#a\n#b\n#c\n', 'utf8', 0, 100);
    const { read } = framedRead('#a\n', 'utf8', 0, 100);
    expect(() => unpackEntries(packEntries(entries, read), 100)).toThrow(
      'entry 1 (at byte 3) does not match the lines of its read',
    );
  });
});
