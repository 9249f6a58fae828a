// XML entries (log4net events, records) as one small tree shape, read by a quick reader
// for the plain XML these logs are written in, with fast-xml-parser for everything else.
//
// The quick reader takes elements, attributes, text and the five predefined entities,
// nothing more: fast-xml-parser per entry was four fifths of the agent's time on ZEN logs.
// Whatever falls outside that subset (CDATA, character references, comments, processing
// instructions) returns null and goes to the full parser, so the quick reader only ever
// has to agree with it, never be complete; a property test holds it to that.
import { XMLParser } from 'fast-xml-parser';

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
    doc = full.parse(source) as unknown[];
  } catch (err) {
    return `malformed XML: ${(err as Error).message.split('\n')[0]}`;
  }
  const root = doc.map(fromOrdered).find((e): e is XmlElement => e !== null);
  return root ?? 'no element';
}

const full = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  // Entity expansion is the XML bomb's door; log files have no business declaring any.
  htmlEntities: false,
});

type Ordered = Record<string, unknown>;

/** fast-xml-parser's ordered output (`{name: [children], ':@': {attrs}}`) as an element. */
function fromOrdered(node: unknown): XmlElement | null {
  if (typeof node !== 'object' || node === null) return null;
  const name = Object.keys(node).find((k) => k !== ':@' && k !== '#text' && !k.startsWith('?'));
  if (name === undefined) return null;
  const content = (node as Ordered)[name];
  const attrs: Record<string, string> = {};
  const rawAttrs = (node as Ordered)[':@'];
  if (typeof rawAttrs === 'object' && rawAttrs !== null) {
    for (const [k, v] of Object.entries(rawAttrs)) if (typeof v === 'string') attrs[k] = v;
  }
  const element: XmlElement = { name, attrs, children: [], text: '' };
  for (const child of Array.isArray(content) ? content : []) {
    const text = (child as Ordered)['#text'];
    if (typeof text === 'string') element.text += text;
    else {
      const sub = fromOrdered(child);
      if (sub) element.children.push(sub);
    }
  }
  return element;
}

const NAME = /[A-Za-z_][\w.:-]*/y;
const ATTRIBUTE =
  /[ \t\r\n]+([A-Za-z_][\w.:-]*)[ \t\r\n]*=[ \t\r\n]*(?:"([^"<&]*(?:&[a-z]+;[^"<&]*)*)"|'([^'<&]*(?:&[a-z]+;[^'<&]*)*)')/y;
const TAG_END = /[ \t\r\n]*(\/?)>/y;
const TEXT = /[^<&]*(?:&[a-z]+;[^<&]*)*/y;
const ENTITY = /&([a-z]+);/g;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
/** Deeper than any log layout: a bound on recursion for hostile input. */
const MAX_DEPTH = 8;

/** The one element that `source` consists of (blanks around it allowed), or null. */
export function readPlainElement(source: string): XmlElement | null {
  const start = skipBlanks(source, 0);
  const parsed = element(source, start, 0);
  if (!parsed || skipBlanks(source, parsed.end) !== source.length) return null;
  return parsed.element;
}

function element(
  source: string,
  at: number,
  depth: number,
): { element: XmlElement; end: number } | null {
  if (depth > MAX_DEPTH || source.charCodeAt(at) !== 0x3c /* < */) return null;
  NAME.lastIndex = at + 1;
  const name = NAME.exec(source)?.[0];
  if (!name) return null;
  let pos = NAME.lastIndex;
  const attrs: Record<string, string> = {};
  for (;;) {
    ATTRIBUTE.lastIndex = pos;
    const m = ATTRIBUTE.exec(source);
    if (!m) break;
    const value = decodeEntities(m[2] ?? m[3]!);
    // A repeated attribute is not well-formed XML: the full parser says so.
    if (value === null || Object.hasOwn(attrs, m[1]!)) return null;
    attrs[m[1]!] = value;
    pos = ATTRIBUTE.lastIndex;
  }
  TAG_END.lastIndex = pos;
  const end = TAG_END.exec(source);
  if (!end) return null;
  pos = TAG_END.lastIndex;
  const result: XmlElement = { name, attrs, children: [], text: '' };
  if (end[1] === '/') return { element: result, end: pos };

  const texts: string[] = [];
  for (;;) {
    TEXT.lastIndex = pos;
    const raw = TEXT.exec(source)![0];
    pos += raw.length;
    if (raw.length > 0) {
      const text = decodeEntities(raw);
      if (text === null) return null;
      texts.push(text);
    }
    if (source.charCodeAt(pos) !== 0x3c) return null; // a stray `&` or the end of the text
    if (source.charCodeAt(pos + 1) === 0x2f /* / */) break;
    const child = element(source, pos, depth + 1);
    if (!child) return null;
    result.children.push(child.element);
    pos = child.end;
  }
  const close = `</${name}`;
  if (!source.startsWith(close, pos)) return null;
  TAG_END.lastIndex = pos + close.length;
  const closed = TAG_END.exec(source);
  if (!closed || closed[1] === '/') return null;
  result.text = texts.join('');
  return { element: result, end: TAG_END.lastIndex };
}

function decodeEntities(raw: string): string | null {
  if (!raw.includes('&')) return raw;
  let unknown = false;
  const text = raw.replace(ENTITY, (whole, name: string) => {
    if (Object.hasOwn(ENTITIES, name)) return ENTITIES[name]!;
    unknown = true;
    return whole;
  });
  return unknown ? null : text;
}

function skipBlanks(source: string, at: number): number {
  for (;;) {
    const c = source.charCodeAt(at);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return at;
    at++;
  }
}
