import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import iconv from 'iconv-lite';
import { decode, detectEncoding, isSingleByte } from '../../../src-agent/collect/decode.ts';
import {
  completeLength,
  DECODE_PIECE_BYTES,
  decodeLines,
  linesFromEnd,
  splitLines,
} from '../../../src-agent/collect/lines.ts';

const texts = (buf: Buffer, base = 0, fallback = 'cp1252') => {
  const enc = detectEncoding(buf, fallback);
  const body = buf.subarray(enc.bomLength);
  return splitLines(body, base + enc.bomLength, enc).map((l) => ({
    ...l,
    text: decode(l.bytes, enc),
  }));
};

describe('splitLines', () => {
  it('returns complete CRLF and LF lines with byte offsets, holding back a partial one', () => {
    const buf = Buffer.from('ab\r\ncd\nef');
    const lines = texts(buf);
    expect(lines.map((l) => l.text)).toEqual(['ab', 'cd']);
    expect(lines.map((l) => [l.start, l.end])).toEqual([
      [0, 4],
      [4, 7],
    ]);
  });

  it('decodes cp1252 without a BOM', () => {
    const buf = iconv.encode('Aperture Size = 7.5 µm\r\n', 'cp1252');
    expect(texts(buf)[0]!.text).toBe('Aperture Size = 7.5 µm');
  });

  it('splits UTF-16LE with BOM only at real line feeds', () => {
    // U+0A0D has the byte 0x0A in an odd position: not a line feed.
    const buf = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      iconv.encode('x\u0a0dy\r\n°C\r\n', 'utf16le'),
    ]);
    const lines = texts(buf);
    expect(lines.map((l) => l.text)).toEqual(['x\u0a0dy', '°C']);
    expect(lines[0]!.start).toBe(2);
    expect(lines[1]!.end).toBe(buf.length);
  });

  it('splits UTF-16BE with BOM', () => {
    const buf = Buffer.concat([Buffer.from([0xfe, 0xff]), iconv.encode('a\nb\n', 'utf16be')]);
    expect(texts(buf).map((l) => l.text)).toEqual(['a', 'b']);
  });

  it('strips a UTF-8 BOM', () => {
    const buf = Buffer.from('\ufeff<record a="1" />\n', 'utf8');
    expect(texts(buf)[0]!.text).toBe('<record a="1" />');
  });
});

// Random bytes are rarely all ASCII: half the runs are, for the ASCII path.
const anyOrAsciiBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.uint8Array({ max: 0x7f, maxLength: 300 }),
);

describe('decode', () => {
  it('reads single-byte code pages exactly as iconv-lite does', () => {
    for (const name of ['cp1252', 'latin1', 'iso-8859-15', 'cp437', 'cp1251', 'windows-1250']) {
      const encoding = detectEncoding(Buffer.alloc(0), name);
      fc.assert(
        fc.property(anyOrAsciiBytes, (bytes) => {
          const chunk = Buffer.from(bytes);
          expect(decode(chunk, encoding)).toBe(iconv.decode(chunk, name));
        }),
        { numRuns: 200 },
      );
    }
  });
});

describe('decodeLines', () => {
  it('gives the same lines as splitting first and decoding each line, for every code page', () => {
    for (const name of ['cp1252', 'latin1', 'cp437', 'cp1251', 'utf8', 'shift_jis']) {
      const encoding = detectEncoding(Buffer.alloc(0), name);
      fc.assert(
        fc.property(anyOrAsciiBytes, fc.nat(1000), (bytes, base) => {
          const chunk = Buffer.from(bytes);
          const slow = splitLines(chunk, base, encoding).map((l) => ({
            text: decode(l.bytes, encoding),
            start: l.start,
            end: l.end,
          }));
          expect(decodeLines(chunk, base, encoding).lines).toEqual(slow);
        }),
        { numRuns: 200 },
      );
    }
  });

  it('gives the same lines from a read larger than a decoded piece', () => {
    const PIECE = DECODE_PIECE_BYTES;
    // Lines around the piece size, line ends of both kinds, and a last line left open.
    const line = fc.record({
      length: fc.oneof(
        fc.nat(200),
        fc.integer({ min: PIECE - 3, max: PIECE + 3 }),
        fc.nat(2 * PIECE),
      ),
      crlf: fc.boolean(),
      byte: fc.integer({ min: 0x20, max: 0xff }),
    });
    const build = (lines: { length: number; crlf: boolean; byte: number }[], open: number) =>
      Buffer.concat([
        ...lines.map(({ length, crlf, byte }) =>
          Buffer.concat([Buffer.alloc(length, byte), Buffer.from(crlf ? '\r\n' : '\n')]),
        ),
        Buffer.alloc(open, 0x41),
      ]);
    const lineEndingAt = (lf: number, crlf: boolean) => ({
      length: lf - (crlf ? 1 : 0),
      crlf,
      byte: 0x61,
    });
    // A piece ends exactly at a line feed, just before one, just after a carriage return.
    const edges = [
      [lineEndingAt(PIECE - 1, false), { length: 10, crlf: false, byte: 0x62 }],
      [lineEndingAt(PIECE, false), { length: 10, crlf: true, byte: 0x62 }],
      [lineEndingAt(PIECE - 1, true), { length: PIECE, crlf: false, byte: 0xfc }],
    ];
    for (const name of ['cp1252', 'utf8']) {
      const encoding = detectEncoding(Buffer.alloc(0), name);
      const check = (chunk: Buffer, base: number) => {
        const slow = splitLines(chunk, base, encoding).map((l) => ({
          text: decode(l.bytes, encoding),
          start: l.start,
          end: l.end,
        }));
        expect(decodeLines(chunk, base, encoding).lines).toEqual(slow);
      };
      for (const lines of edges) check(build(lines, 5), 7);
      fc.assert(
        fc.property(
          fc.array(line, { maxLength: 8 }),
          fc.nat(100),
          fc.nat(1000),
          (lines, open, base) => check(build(lines, open), base),
        ),
        { numRuns: 40 },
      );
    }
  });

  it('gives the lines from the end as it gives them from the start, in every encoding', () => {
    for (const name of ['cp1252', 'utf8', 'shift_jis', 'utf16le', 'utf16be']) {
      const encoding = detectEncoding(Buffer.alloc(0), name);
      fc.assert(
        fc.property(anyOrAsciiBytes, fc.nat(1000), (bytes, base) => {
          // Many line feeds, carriage returns and zero bytes: UTF-16's line ends of either
          // byte order, at even and at odd positions.
          const chunk = Buffer.from(
            bytes.map((b) => (b < 30 ? 0x0a : b < 60 ? 0 : b < 80 ? 0x0d : b)),
          );
          const { lines } = decodeLines(chunk, base, encoding);
          expect([...linesFromEnd(chunk, base, encoding)]).toEqual(lines.toReversed());
          expect(completeLength(chunk, encoding)).toBe((lines.at(-1)?.end ?? base) - base);
        }),
        { numRuns: 200 },
      );
    }
  });

  it('takes the one-call path only where bytes and characters correspond', () => {
    const is = (name: string) => isSingleByte(detectEncoding(Buffer.alloc(0), name));
    expect([is('cp1252'), is('cp437'), is('utf8'), is('shift_jis')]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });
});
