// Entry formats: how an entry is framed from lines and read into a timestamp, a level,
// a message and named fields, whatever the instrument software wrote.
import { XMLParser } from 'fast-xml-parser';
import type { Format } from '../profiles/schema.ts';
import type { FrameRules } from './entries.ts';

export interface ParsedEntry {
  ts: string;
  level: string;
  message: string;
  fields: Record<string, string>;
  /** First line of an attached exception (log4net `<exception>`). */
  exception?: string;
}

export interface EntryReader {
  frame: Omit<FrameRules, 'maxEntryChars'>;
  /** The parsed entry, or why it could not be read. */
  read(lines: readonly string[]): ParsedEntry | string;
}

export function createReader(format: Format): EntryReader {
  switch (format.type) {
    case 'lines':
      return linesReader(new RegExp(format.entry, 'u'));
    case 'log4net-xml':
      return xmlReader('event', (node, attrs) => ({
        ts: attrs.timestamp ?? '',
        level: attrs.level ?? '',
        message: text(node.message),
        fields: { ...attrs, ...properties(node.properties ?? node['log4net:properties']) },
        exception: firstLine(text(node.exception ?? node['log4net:exception'])) || undefined,
      }));
    case 'xml-records':
      return xmlReader('record', (_node, attrs) => ({
        ts: attrs.timestamp ?? '',
        level: '',
        message: '',
        fields: attrs,
      }));
  }
}

function linesReader(entry: RegExp): EntryReader {
  const fieldNames = groupNames(entry).filter(
    (n) => n !== 'ts' && n !== 'level' && n !== 'message',
  );
  return {
    frame: { startsEntry: (line) => entry.test(line) },
    read(lines) {
      const groups = entry.exec(lines[0] ?? '')?.groups;
      if (!groups) return 'entry does not match the line format';
      const fields: Record<string, string> = {};
      for (const name of fieldNames) {
        const value = groups[name];
        if (value !== undefined) fields[name] = value;
      }
      return {
        ts: groups.ts ?? '',
        level: groups.level ?? '',
        message: (groups.message ?? '').trim(),
        fields,
      };
    },
  };
}

/** The named groups of a pattern, read once, so that entries need no object spreads. */
function groupNames(re: RegExp): string[] {
  return [...re.source.matchAll(/\(\?<([A-Za-z_$][\w$]*)>/g)].map((m) => m[1]!);
}

type XmlNode = Record<string, unknown>;
const ATTRS = '$attrs';

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  attributesGroupName: ATTRS,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  // Entity expansion is the XML bomb's door; log files have no business declaring any.
  htmlEntities: false,
});

function xmlReader(
  tag: string,
  toEntry: (node: XmlNode, attrs: Record<string, string>) => ParsedEntry,
): EntryReader {
  const start = new RegExp(`^\\s*<(?:log4net:)?${tag}[\\s/>]`);
  const end = new RegExp(`(?:</(?:log4net:)?${tag}>|^\\s*<(?:log4net:)?${tag}\\b[^>]*/>)\\s*$`);
  return {
    frame: { startsEntry: (line) => start.test(line), endsEntry: (line) => end.test(line) },
    read(lines) {
      const source = lines.join('\n');
      if (!end.test(lines[lines.length - 1] ?? '')) return `truncated <${tag}> element`;
      let doc: XmlNode;
      try {
        doc = xml.parse(source) as XmlNode;
      } catch (err) {
        return `malformed XML: ${(err as Error).message.split('\n')[0]}`;
      }
      const node = doc[tag] ?? doc[`log4net:${tag}`];
      if (typeof node !== 'object' || node === null) return `no <${tag}> element`;
      return toEntry(node as XmlNode, attributes((node as XmlNode)[ATTRS]));
    },
  };
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && '#text' in value)
    return text((value as XmlNode)['#text']);
  return '';
}

function attributes(group: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof group !== 'object' || group === null) return out;
  for (const [key, value] of Object.entries(group)) if (typeof value === 'string') out[key] = value;
  return out;
}

/** log4net `<properties><data name="..." value="..."/></properties>` as plain fields. */
function properties(node: unknown): Record<string, string> {
  const data =
    (node as XmlNode | undefined)?.data ?? (node as XmlNode | undefined)?.['log4net:data'];
  const list = Array.isArray(data) ? data : data ? [data] : [];
  const out: Record<string, string> = {};
  for (const d of list as XmlNode[]) {
    const { name, value } = attributes(d?.[ATTRS]);
    if (name !== undefined && value !== undefined) out[name] = value;
  }
  return out;
}

const firstLine = (s: string) => s.split(/\r?\n/, 1)[0]!.trim();
