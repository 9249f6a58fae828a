// Entry formats: how an entry is framed from lines and read into a timestamp, a level,
// a message and named fields, whatever the instrument software wrote.
import type { Format } from '../profiles/schema.ts';
import type { FrameRules } from './entries.ts';
import { readElement, type XmlElement } from './xml-element.ts';

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
      return xmlReader('event', (node) => ({
        ts: node.attrs.timestamp ?? '',
        level: node.attrs.level ?? '',
        message: child(node, 'message')?.text ?? '',
        fields: { ...node.attrs, ...properties(child(node, 'properties')) },
        exception: firstLine(child(node, 'exception')?.text ?? '') || undefined,
      }));
    case 'xml-records':
      return xmlReader('record', (node) => ({
        ts: node.attrs.timestamp ?? '',
        level: '',
        message: '',
        fields: node.attrs,
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

function xmlReader(tag: string, toEntry: (node: XmlElement) => ParsedEntry): EntryReader {
  const start = new RegExp(`^\\s*<(?:log4net:)?${tag}[\\s/>]`);
  // Plain string tests before the pattern: this runs on every line of every XML log.
  const [close, prefixedClose] = [`</${tag}>`, `</log4net:${tag}>`];
  const selfClosing = new RegExp(`^\\s*<(?:log4net:)?${tag}\\b[^>]*/>$`);
  const endsEntry = (line: string) => {
    const text = line.trimEnd();
    return (
      text.endsWith(close) ||
      text.endsWith(prefixedClose) ||
      (text.endsWith('/>') && selfClosing.test(text))
    );
  };
  return {
    frame: { startsEntry: (line) => start.test(line), endsEntry },
    read(lines) {
      if (!endsEntry(lines[lines.length - 1] ?? '')) return `truncated <${tag}> element`;
      const node = readElement(lines.join('\n'));
      if (typeof node === 'string') return node;
      if (node.name !== tag && node.name !== `log4net:${tag}`) return `no <${tag}> element`;
      return toEntry(node);
    },
  };
}

/** log4net writes its elements with or without the `log4net:` prefix. */
function child(node: XmlElement | undefined, name: string): XmlElement | undefined {
  return node?.children.find((c) => c.name === name || c.name === `log4net:${name}`);
}

/** log4net `<properties><data name="..." value="..."/></properties>` as plain fields. */
function properties(node: XmlElement | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const data of node?.children ?? []) {
    if (data.name !== 'data' && data.name !== 'log4net:data') continue;
    const { name, value } = data.attrs;
    if (name !== undefined && value !== undefined) out[name] = value;
  }
  return out;
}

const firstLine = (s: string) => s.split(/\r?\n/, 1)[0]!.trim();
