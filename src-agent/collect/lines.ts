// Splits raw bytes at line feeds without decoding first, so every line keeps its exact
// byte offset in the file: the offset the tail cursor stores.
import { isAscii } from 'node:buffer';
import { decode, isSingleByte, isUtf8, type Encoding } from './decode.ts';
import type { Line } from './entries.ts';

export interface RawLine {
  /** Byte offset of the line's first byte in the file. */
  start: number;
  /** Byte offset just past its line feed. */
  end: number;
  /** The line's bytes without CR/LF. */
  bytes: Buffer;
}

/**
 * Complete lines of `chunk`, which starts at file offset `base`. A trailing partial line
 * is not returned: it is no entry until its writer finishes it.
 */
export function splitLines(chunk: Buffer, base: number, encoding: Encoding): RawLine[] {
  const lines: RawLine[] = [];
  const unit = encoding.unit;
  let from = 0;
  let search = 0;
  while (search < chunk.length) {
    const lf = findLineFeed(chunk, search, encoding);
    if (lf < 0) break;
    let stop = lf;
    if (isCarriageReturnBefore(chunk, lf, encoding)) stop -= unit;
    lines.push({ start: base + from, end: base + lf + unit, bytes: chunk.subarray(from, stop) });
    from = lf + unit;
    search = from;
  }
  return lines;
}

/**
 * The complete lines of `chunk` (at file offset `base`) from the last back to the first,
 * decoded one by one: a read's end, where its last entry starts, without decoding the rest.
 */
export function* linesFromEnd(chunk: Buffer, base: number, encoding: Encoding): Generator<Line> {
  const unit = encoding.unit;
  let lf = lastLineFeed(chunk, chunk.length - unit, encoding);
  while (lf >= 0) {
    const previous = lastLineFeed(chunk, lf - unit, encoding);
    const from = previous < 0 ? 0 : previous + unit;
    const stop = isCarriageReturnBefore(chunk, lf, encoding) ? lf - unit : lf;
    yield {
      text: decode(chunk.subarray(from, stop), encoding),
      start: base + from,
      end: base + lf + unit,
    };
    lf = previous;
  }
}

/** The bytes of `chunk` up to the end of its last complete line. */
export function completeLength(chunk: Buffer, encoding: Encoding): number {
  const lf = lastLineFeed(chunk, chunk.length - encoding.unit, encoding);
  return lf < 0 ? 0 : lf + encoding.unit;
}

function findLineFeed(chunk: Buffer, from: number, encoding: Encoding): number {
  if (encoding.unit === 1) return chunk.indexOf(0x0a, from);
  // A UTF-16 line feed is 0A 00 (LE) or 00 0A (BE) at an even position.
  const pattern = encoding.bigEndian ? LF_BE : LF_LE;
  let at = chunk.indexOf(pattern, from);
  while (at >= 0 && at % 2 !== 0) at = chunk.indexOf(pattern, at + 1);
  return at;
}

/** The last line feed at or before `at`, or -1. */
function lastLineFeed(chunk: Buffer, at: number, encoding: Encoding): number {
  // lastIndexOf counts a negative position from the end.
  if (at < 0) return -1;
  if (encoding.unit === 1) return chunk.lastIndexOf(0x0a, at);
  const pattern = encoding.bigEndian ? LF_BE : LF_LE;
  let found = chunk.lastIndexOf(pattern, at);
  while (found > 0 && found % 2 !== 0) found = chunk.lastIndexOf(pattern, found - 1);
  return found;
}

const LF_LE = Buffer.from([0x0a, 0x00]);
const LF_BE = Buffer.from([0x00, 0x0a]);

function isCarriageReturnBefore(chunk: Buffer, lf: number, encoding: Encoding): boolean {
  if (encoding.unit === 1) return lf > 0 && chunk[lf - 1] === 0x0d;
  if (lf < 2) return false;
  return encoding.bigEndian
    ? chunk[lf - 2] === 0x00 && chunk[lf - 1] === 0x0d
    : chunk[lf - 2] === 0x0d && chunk[lf - 1] === 0x00;
}

export interface DecodedLines {
  lines: Line[];
  /** U+FFFD characters the decoder put in for invalid bytes. */
  replacements: number;
}

/** Complete lines of `chunk` (at file offset `base`) as text, with their byte ranges. */
export function decodeLines(chunk: Buffer, base: number, encoding: Encoding): DecodedLines {
  // Pure ASCII is one byte per character in UTF-8 too (a native check; most logs are).
  if (isSingleByte(encoding) || (isUtf8(encoding) && isAscii(chunk))) {
    return decodeSingleByte(chunk, base, encoding);
  }
  let replacements = 0;
  // Pushed, as decodeSingleByte's are: map() makes an array of another kind, and code that
  // met both was deoptimised for it.
  const lines: Line[] = [];
  for (const raw of splitLines(chunk, base, encoding)) {
    const text = decode(raw.bytes, encoding);
    replacements += countReplacements(text);
    lines.push({ text, start: raw.start, end: raw.end });
  }
  return { lines, replacements };
}

/**
 * Single-byte text is decoded in pieces of whole lines of at most this size, where lines are
 * no longer. V8 puts a string of 128 KiB or more in its large-object space, a mapping of its
 * own for each: decoding a 256 KiB read in one call ran at 200 MB/s here, in pieces at 10 GB/s.
 * A piece's text takes two bytes per character where the code page gives one above U+00FF.
 */
export const DECODE_PIECE_BYTES = 32 * 1024;

/** One decoder call per piece: with one character per byte, offsets carry over. */
function decodeSingleByte(chunk: Buffer, base: number, encoding: Encoding): DecodedLines {
  const complete = chunk.lastIndexOf(0x0a) + 1;
  const lines: Line[] = [];
  let replacements = 0;
  for (let start = 0; start < complete;) {
    const end = pieceEnd(chunk, start, complete);
    const text = decode(chunk.subarray(start, end), encoding);
    replacements += countReplacements(text);
    let from = 0;
    for (let lf = text.indexOf('\n'); lf >= 0; lf = text.indexOf('\n', from)) {
      const stop = lf > from && text.charCodeAt(lf - 1) === 13 ? lf - 1 : lf;
      lines.push({
        text: text.slice(from, stop),
        start: base + start + from,
        end: base + start + lf + 1,
      });
      from = lf + 1;
    }
    start = end;
  }
  return { lines, replacements };
}

/**
 * Where the piece from `start` ends: after its last line feed within DECODE_PIECE_BYTES, or
 * after the first one beyond, for a longer line. `complete` ends with a line feed.
 */
function pieceEnd(chunk: Buffer, start: number, complete: number): number {
  if (complete - start <= DECODE_PIECE_BYTES) return complete;
  const lf = chunk.lastIndexOf(0x0a, start + DECODE_PIECE_BYTES - 1);
  return (lf >= start ? lf : chunk.indexOf(0x0a, start + DECODE_PIECE_BYTES)) + 1;
}

function countReplacements(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\uFFFD'); i >= 0; i = text.indexOf('\uFFFD', i + 1)) n++;
  return n;
}
