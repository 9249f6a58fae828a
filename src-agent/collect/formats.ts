// Entry formats: how an entry is framed from lines and read into a timestamp, a level,
// a message and named fields, whatever the instrument software wrote.
import type { Format } from '../profiles/schema.ts';
import type { FrameRules } from './entries.ts';
import { groupNames, groupReader } from './group-reader.ts';
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
  /** The parsed entry, or why it could not be read; `head` is the entry's (Entry.head). */
  read(lines: readonly string[], head?: unknown): ParsedEntry | string;
}

export function createReader(format: Format): EntryReader {
  switch (format.type) {
    case 'lines':
      // `s`: the pattern sees one line, split at line feeds only; a stray CR or U+2028 in it
      // is part of the message, where a plain `.` stops and the entry would go unread.
      return linesReader(new RegExp(format.entry, 'su'));
    case 'log4net-xml':
      return xmlReader('event', log4netEntry);
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
  const groups = groupReader(entry, ['ts', 'level', 'message', ...fieldNames]);
  return {
    // The framer's match is the reader's: a test, then the same pattern again to read the line,
    // were 6% of a parse worker's instructions on an EM log.
    frame: { startsEntry: (line) => groups.exec(line) },
    read(lines, head) {
      const m = (head as RegExpExecArray | undefined) ?? groups.exec(lines[0] ?? '');
      if (!m) return 'entry does not match the line format';
      const fields: Record<string, string> = {};
      for (let i = 0; i < fieldNames.length; i++) {
        const value = groups.group(m, i + 3);
        if (value !== undefined) fields[fieldNames[i]!] = value;
      }
      return {
        ts: groups.group(m, 0) ?? '',
        level: groups.group(m, 1) ?? '',
        message: (groups.group(m, 2) ?? '').trim(),
        fields,
      };
    },
  };
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

/**
 * A log4net event: its attributes and `<properties><data name=".." value=".."/>` become the
 * fields (a property wins over an attribute of the same name). One pass over the children,
 * which log4net writes with or without the `log4net:` prefix.
 */
function log4netEntry(node: XmlElement): ParsedEntry {
  const { timestamp: ts = '', level = '' } = node.attrs;
  // The element is this entry's own: its attributes object becomes the fields.
  const fields = node.attrs;
  let message = '';
  let exception: string | undefined;
  let seenMessage = false;
  let seenException = false;
  for (const child of node.children) {
    const name = unprefixed(child.name);
    if (name === 'message' && !seenMessage) {
      seenMessage = true;
      message = child.text;
    } else if (name === 'exception' && !seenException) {
      seenException = true;
      exception = firstLine(child.text) || undefined;
    } else if (name === 'properties') {
      for (const data of child.children) {
        if (unprefixed(data.name) !== 'data') continue;
        const { name: key, value } = data.attrs;
        if (key !== undefined && value !== undefined) fields[key] = value;
      }
    }
  }
  return { ts, level, message, fields, exception };
}

const unprefixed = (name: string) => (name.startsWith('log4net:') ? name.slice(8) : name);

const firstLine = (s: string) => s.split(/\r?\n/, 1)[0]!.trim();
