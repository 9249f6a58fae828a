// XML entries (log4net events, records) as one small tree shape, read by a quick reader
// for the plain XML these logs are written in, with fast-xml-parser for everything else.
//
// The quick reader takes elements, attributes, text, CDATA, the five predefined entities and
// character references, nothing more: fast-xml-parser per entry was four fifths of the
// agent's time on ZEN logs. Whatever falls outside that subset (comments, processing
// instructions, unknown entities) returns null and goes to the full parser, so the quick
// reader only ever has to agree with it, never be complete; a property test holds it to
// that. The full parser is loaded when first needed: most logs never need it, and loading
// it is a tenth of the agent's start-up.
import { createRequire } from 'node:module';
import type * as Fxp from 'fast-xml-parser';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The text directly inside, all of it joined. */
  text: string;
}

/** The element `source` holds, or why it is not one. */
export function readElement(source: string): XmlElement | string {
  return readPlainElement(source) ?? parseFully(source);
}

/** fast-xml-parser's reading of `source`: the reference the quick reader must agree with. */
export function parseFully(source: string): XmlElement | string {
  let doc: unknown[];
  try {
    doc = fullParser().parse(source) as unknown[];
  } catch (err) {
    return `malformed XML: ${(err as Error).message.split('\n')[0]}`;
  }
  const root = doc.map(fromOrdered).find((e): e is XmlElement => e !== null);
  return root ?? 'no element';
}

let full: Fxp.XMLParser | null = null;

function fullParser(): Fxp.XMLParser {
  if (full) return full;
  const { XMLParser } = createRequire(import.meta.url)('fast-xml-parser') as typeof Fxp;
  full = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    // References are resolved here (fromOrdered), as the quick reader resolves them: the
    // parser's own resolution takes character references only with HTML's entities, and
    // would expand entities a DOCTYPE declares, the XML bomb's door. CDATA stays apart,
    // as written.
    processEntities: false,
    cdataPropName: CDATA,
  });
  return full;
}

type Ordered = Record<string, unknown>;

/** fast-xml-parser's ordered output (`{name: [children], ':@': {attrs}}`) as an element. */
function fromOrdered(node: unknown): XmlElement | null {
  if (typeof node !== 'object' || node === null) return null;
  const name = Object.keys(node).find(
    (k) => k !== ':@' && !k.startsWith('#') && !k.startsWith('?'),
  );
  if (name === undefined) return null;
  const content = (node as Ordered)[name];
  const attrs: Record<string, string> = {};
  const rawAttrs = (node as Ordered)[':@'];
  if (typeof rawAttrs === 'object' && rawAttrs !== null) {
    for (const [k, v] of Object.entries(rawAttrs)) {
      if (typeof v === 'string') attrs[k] = resolveReferences(v);
    }
  }
  const element: XmlElement = { name, attrs, children: [], text: '' };
  for (const child of Array.isArray(content) ? content : []) {
    const text = (child as Ordered)['#text'];
    const cdata = (child as Ordered)[CDATA];
    if (typeof text === 'string') element.text += resolveReferences(text);
    else if (Array.isArray(cdata)) {
      for (const part of cdata) element.text += (part as Ordered)['#text'] ?? '';
    } else {
      const sub = fromOrdered(child);
      if (sub) element.children.push(sub);
    }
  }
  return element;
}

const CDATA_OPEN = '<![CDATA[';
const CDATA_CLOSE = ']]>';
const CDATA = '#cdata';
const REFERENCE = /&(?:([a-z]+)|#(\d{1,7})|#x([\dA-Fa-f]{1,6}));/g;
const STRAY_AMPERSAND = /&(?!(?:[a-z]+|#\d{1,7}|#x[\dA-Fa-f]{1,6});)/;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
/** Deeper than any log layout: a bound on recursion for hostile input. */
const MAX_DEPTH = 8;
const [LT, GT, SLASH, EQUALS, DOUBLE, SINGLE, BANG] = ['<', '>', '/', '=', '"', "'", '!'].map((c) =>
  c.charCodeAt(0),
);

/** The one element that `source` consists of (blanks around it allowed), or null. */
export function readPlainElement(source: string): XmlElement | null {
  const reader = new QuickReader(source);
  reader.pos = reader.skipBlanks(0);
  const root = reader.element(0);
  return root !== null && reader.skipBlanks(reader.pos) === source.length ? root : null;
}

/**
 * The text being read and the position in it: plain scanning with indexOf and char codes
 * (regular expressions with captures were slower by half), on an object's fields (module-level
 * variables cost a check on every access).
 */
class QuickReader {
  pos = 0;
  guessedWrong = false;
  constructor(readonly src: string) {}

  element(depth: number): XmlElement | null {
    const src = this.src;
    if (depth > MAX_DEPTH || src.charCodeAt(this.pos) !== LT) return null;
    const nameStart = this.pos + 1;
    this.pos = this.nameEnd(nameStart);
    if (this.pos === nameStart) return null;
    const name = src.slice(nameStart, this.pos);
    const attrs: Record<string, string> = {};
    let index = 0;
    for (;;) {
      // Mostly one space, or none before the tag's end: those need no call (a call per blank
      // was a fifth of reading an event). Blanks are all at or below 0x20.
      let next = this.pos;
      const blank = src.charCodeAt(next);
      if (blank === 0x20 && src.charCodeAt(next + 1) > 0x20) next++;
      else if (blank <= 0x20) next = this.skipBlanks(next);
      const c = src.charCodeAt(next);
      if (c === GT) {
        this.pos = next + 1;
        this.rememberNames(depth, attrs);
        break;
      }
      if (c === SLASH) {
        if (src.charCodeAt(next + 1) !== GT) return null;
        this.pos = next + 2;
        this.rememberNames(depth, attrs);
        return { name, attrs, children: [], text: '' };
      }
      // An attribute, after at least one blank.
      if (next === this.pos) return null;
      const key = this.attributeName(next, depth, index++);
      if (key === null) return null;
      const keyEnd = next + key.length;
      // Writers put no blanks around the =: one comparison instead of a call.
      let at = src.charCodeAt(keyEnd) > 0x20 ? keyEnd : this.skipBlanks(keyEnd);
      if (src.charCodeAt(at) !== EQUALS) return null;
      at = src.charCodeAt(at + 1) > 0x20 ? at + 1 : this.skipBlanks(at + 1);
      const quote = src.charCodeAt(at);
      if (quote !== DOUBLE && quote !== SINGLE) return null;
      const close = src.indexOf(quote === DOUBLE ? '"' : "'", at + 1);
      if (close < 0) return null;
      const raw = src.slice(at + 1, close);
      const value = raw.includes('<') ? null : plainText(raw);
      // A repeated attribute is not well-formed XML: the full parser says what it makes of it.
      // Names that all came from the guesses cannot repeat: those are an element's own keys.
      if (value === null || (this.guessedWrong && Object.hasOwn(attrs, key))) return null;
      attrs[key] = value;
      this.pos = close + 1;
    }

    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      const lt = src.indexOf('<', this.pos);
      if (lt < 0) return null;
      if (lt > this.pos) {
        const part = plainText(src.slice(this.pos, lt));
        if (part === null) return null;
        text += part;
      }
      this.pos = lt;
      if (src.charCodeAt(lt + 1) === BANG && src.startsWith(CDATA_OPEN, lt)) {
        const end = src.indexOf(CDATA_CLOSE, lt + CDATA_OPEN.length);
        if (end < 0) return null;
        text += src.slice(lt + CDATA_OPEN.length, end);
        this.pos = end + CDATA_CLOSE.length;
        continue;
      }
      if (src.charCodeAt(lt + 1) === SLASH) break;
      const child = this.element(depth + 1);
      if (!child) return null;
      children.push(child);
    }
    this.pos += 2;
    if (!src.startsWith(name, this.pos)) return null;
    this.pos = this.skipBlanks(this.pos + name.length);
    if (src.charCodeAt(this.pos) !== GT) return null;
    this.pos++;
    return { name, attrs, children, text };
  }

  /**
   * The attribute name at `at`. A log writes the same attributes in the same order entry after
   * entry, so the name read in this place last time is tried first: a match needs neither a
   * scan nor a new string, and a key the engine has stored before is quick to store again.
   */
  attributeName(at: number, depth: number, index: number): string | null {
    const src = this.src;
    const guess = attributeNames[depth]?.[index];
    if (
      guess !== undefined &&
      src.startsWith(guess, at) &&
      !isNameChar(src.charCodeAt(at + guess.length))
    ) {
      return guess;
    }
    const end = this.nameEnd(at);
    if (end === at) return null;
    this.guessedWrong = true;
    return src.slice(at, end);
  }

  /**
   * After a wrong guess, the element's own names become the next guesses: as the object's keys,
   * strings of their own rather than slices that would keep this entry's text alive.
   */
  rememberNames(depth: number, attrs: Record<string, string>): void {
    if (!this.guessedWrong) return;
    attributeNames[depth] = Object.keys(attrs);
    this.guessedWrong = false;
  }

  /** Where an XML name (`[A-Za-z_][\w.:-]*`) starting at `at` ends (`at` if there is none). */
  nameEnd(at: number): number {
    const src = this.src;
    if (!isNameStart(src.charCodeAt(at))) return at;
    let end = at + 1;
    while (isNameChar(src.charCodeAt(end))) end++;
    return end;
  }

  skipBlanks(at: number): number {
    const src = this.src;
    // Bounded: a read past the end is NaN, which V8 deoptimises the reader for.
    for (; at < src.length; at++) {
      const c = src.charCodeAt(at);
      // Blanks are all at or below 0x20: most calls find none, after one comparison.
      if (c > 0x20 || (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d)) return at;
    }
    return at;
  }
}

/** By depth and position: the attribute names read last (see `attributeName`). */
const attributeNames: string[][] = [];

const isNameStart = (c: number) =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f;
const isNameChar = (c: number) =>
  isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x3a || c === 0x2d;

/** `raw` with the predefined entities decoded, or null for any other `&`. */
function plainText(raw: string): string | null {
  if (!raw.includes('&')) return raw;
  if (STRAY_AMPERSAND.test(raw)) return null;
  let unknown = false;
  const text = resolveReferences(raw, () => (unknown = true));
  return unknown ? null : text;
}

/** Text with the references it can resolve resolved; the rest stays as written. */
function resolveReferences(raw: string, onUnresolved?: () => void): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(REFERENCE, (whole, name?: string, decimal?: string, hex?: string) => {
    const resolved = referenced(name, decimal, hex);
    if (resolved === undefined) onUnresolved?.();
    return resolved ?? whole;
  });
}

/** A predefined entity's or character reference's character; undefined if XML has none. */
function referenced(
  name: string | undefined,
  decimal: string | undefined,
  hex: string | undefined,
): string | undefined {
  if (name !== undefined) return Object.hasOwn(ENTITIES, name) ? ENTITIES[name] : undefined;
  const code = decimal !== undefined ? Number(decimal) : parseInt(hex!, 16);
  return isXmlChar(code) ? String.fromCodePoint(code) : undefined;
}

/** XML 1.0's Char production: no NUL or other control characters, no lone surrogates. */
const isXmlChar = (c: number) =>
  c === 0x9 ||
  c === 0xa ||
  c === 0xd ||
  (c >= 0x20 && c <= 0xd7ff) ||
  (c >= 0xe000 && c <= 0xfffd) ||
  (c >= 0x10000 && c <= 0x10ffff);
