// Instrument software writes whatever its Windows code page or .NET default gives:
// a byte order mark decides where there is one, the source's code page otherwise.
import iconv from 'iconv-lite';

export interface Encoding {
  /** iconv-lite name. */
  name: string;
  /** Bytes of the byte order mark at the file's start. */
  bomLength: number;
  /** Bytes per code unit: where a line break can sit. */
  unit: 1 | 2;
  bigEndian: boolean;
}

export class EncodingError extends Error {
  readonly code = 'encoding_unsupported';
}

export function detectEncoding(head: Buffer, fallback: string): Encoding {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) {
    return { name: 'utf8', bomLength: 3, unit: 1, bigEndian: false };
  }
  if (head[0] === 0xff && head[1] === 0xfe) {
    return { name: 'utf16le', bomLength: 2, unit: 2, bigEndian: false };
  }
  if (head[0] === 0xfe && head[1] === 0xff) {
    return { name: 'utf16be', bomLength: 2, unit: 2, bigEndian: true };
  }
  if (!iconv.encodingExists(fallback)) {
    throw new EncodingError(`unknown encoding "${fallback}"`);
  }
  const unit = /^utf-?16/i.test(fallback) ? 2 : 1;
  const bigEndian = /be$/i.test(fallback);
  // iconv's bare "utf-16" guesses the byte order anew for each line it is given; lines are
  // split in this one.
  const name = unit === 2 ? (bigEndian ? 'utf16be' : 'utf16le') : fallback;
  return { name, bomLength: 0, unit, bigEndian };
}

/** Invalid bytes become U+FFFD: counted by the caller, never fatal. */
export function decode(bytes: Buffer, encoding: Encoding): string {
  if (encoding.name === 'utf8' || encoding.name === 'utf-8') return bytes.toString('utf8');
  const text = iconv.decode(bytes, encoding.name, { stripBOM: false });
  // UTF-16 decoders pass lone surrogates through: invalid input like any other, and text
  // that cannot be sent as UTF-8. The check is native and quick; the repair is rare.
  return text.isWellFormed() ? text : text.toWellFormed();
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const singleByte = new Map<string, boolean>();

/**
 * A code page that maps every byte to one UTF-16 unit, and only byte 0A to a line feed
 * (not EBCDIC): text offsets then equal byte offsets, and lines split the same either way.
 */
export function isSingleByte(encoding: Encoding): boolean {
  if (encoding.unit !== 1 || /^utf-?8$/i.test(encoding.name)) return false;
  let known = singleByte.get(encoding.name);
  if (known === undefined) {
    const text = iconv.decode(ALL_BYTES, encoding.name);
    known = text.length === 256 && text.indexOf('\n') === 0x0a && text.lastIndexOf('\n') === 0x0a;
    singleByte.set(encoding.name, known);
  }
  return known;
}
