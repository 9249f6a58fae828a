// Instrument software writes whatever its Windows code page or .NET default gives:
// a byte order mark decides where there is one, the source's code page otherwise.
import { isAscii } from 'node:buffer';
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
  // split in this one. UTF-8 gets the one name isUtf8 looks for.
  let name = fallback;
  if (unit === 2) name = bigEndian ? 'utf16be' : 'utf16le';
  else if (/^utf-?8$/i.test(fallback)) name = 'utf8';
  return { name, bomLength: 0, unit, bigEndian };
}

/** Invalid bytes become U+FFFD: counted by the caller, never fatal. */
export function decode(bytes: Buffer, encoding: Encoding): string {
  if (isUtf8(encoding)) return bytes.toString('utf8');
  const nearLatin1 = isSingleByte(encoding) ? latin1Differences(encoding.name) : null;
  if (nearLatin1) {
    const text = bytes.toString('latin1');
    // The differences are all above ASCII, and a native check finds none there quicker than
    // the pattern does.
    return nearLatin1.bytes && !isAscii(bytes)
      ? text.replace(nearLatin1.bytes, (c) => nearLatin1.chars[c.charCodeAt(0)]!)
      : text;
  }
  const text = iconv.decode(bytes, encoding.name, { stripBOM: false });
  // UTF-16 decoders pass lone surrogates through: invalid input like any other, and text
  // that cannot be sent as UTF-8. The check is native and quick; the repair is rare.
  return text.isWellFormed() ? text : text.toWellFormed();
}

interface Latin1Differences {
  /** Matches the (Latin-1 decoded) bytes this code page reads differently, or null if none. */
  bytes: RegExp | null;
  /** The code page's character for each byte, from iconv-lite. */
  chars: string;
}

/**
 * Above this many, a code page is not Latin-1 with a few changes (cp1251 is not; cp1252 is).
 * Nor is one that reads an ASCII byte differently.
 */
const MAX_DIFFERENCES = 48;
const latin1Like = new Map<string, Latin1Differences | null>();

/**
 * How a single-byte code page differs from Latin-1, where it differs in few bytes. Such text
 * is decoded natively as Latin-1 and the few bytes are swapped, which is several times faster
 * than iconv-lite's per-byte loop; the characters themselves still come from iconv-lite.
 */
function latin1Differences(name: string): Latin1Differences | null {
  if (latin1Like.has(name)) return latin1Like.get(name)!;
  const chars = iconv.decode(ALL_BYTES, name);
  const differing: number[] = [];
  for (let byte = 0; byte < 256; byte++) {
    if (chars.charCodeAt(byte) !== byte) differing.push(byte);
  }
  const hex = (byte: number) => `\\x${byte.toString(16).padStart(2, '0')}`;
  const result =
    differing.length > MAX_DIFFERENCES || differing[0]! < 0x80
      ? null
      : {
          bytes: differing.length > 0 ? new RegExp(`[${differing.map(hex).join('')}]`, 'g') : null,
          chars,
        };
  latin1Like.set(name, result);
  return result;
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const singleByte = new Map<string, boolean>();

/**
 * A code page that maps every byte to one UTF-16 unit, and only byte 0A to a line feed
 * (not EBCDIC): text offsets then equal byte offsets, and lines split the same either way.
 */
export function isSingleByte(encoding: Encoding): boolean {
  if (encoding.unit !== 1 || isUtf8(encoding)) return false;
  let known = singleByte.get(encoding.name);
  if (known === undefined) {
    const text = iconv.decode(ALL_BYTES, encoding.name);
    known = text.length === 256 && text.indexOf('\n') === 0x0a && text.lastIndexOf('\n') === 0x0a;
    singleByte.set(encoding.name, known);
  }
  return known;
}

export function isUtf8(encoding: Encoding): boolean {
  return encoding.name === 'utf8';
}
