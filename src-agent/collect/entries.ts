// Frames decoded lines into entries: an entry starts at a line the format recognises and
// takes the continuation lines (stack traces, wrapped XML) that follow it.
export interface Line {
  text: string;
  start: number;
  end: number;
}

export interface Entry {
  lines: string[];
  /** Byte range of the entry in its file. */
  start: number;
  end: number;
  /** The entry was cut at the size limit. */
  truncated: boolean;
  /**
   * What startsEntry made of the first line (see FrameRules); none where that line was cut,
   * or where the entry was not framed here. The reader then reads the line itself.
   */
  head?: unknown;
}

export interface FrameRules {
  /**
   * Whether `text` starts an entry: it does where the result is truthy. A format that reads
   * the line to tell (a line pattern) returns what it read, and the entry carries that to the
   * reader, so that the pattern runs once per entry instead of twice.
   */
  startsEntry(text: string): unknown;
  /** Where a format marks an entry's end (`</event>`), it need not wait for the next one. */
  endsEntry?(text: string): boolean;
  maxEntryChars: number;
}

export interface Framed {
  entries: Entry[];
  /** An entry that may still grow: it is re-read next time, not yet an item. */
  open: Entry | null;
  /** Lines outside any entry (before the first start line). */
  orphans: number;
}

export function frameLines(lines: Iterable<Line>, rules: FrameRules): Framed {
  const entries: Entry[] = [];
  let open: Entry | null = null;
  // The open entry's characters: kept beside it, so that every entry has the same shape.
  let chars = 0;
  let orphans = 0;
  for (const line of lines) {
    const head = rules.startsEntry(line.text);
    if (head) {
      if (open) entries.push(open);
      open = { lines: [], start: line.start, end: line.start, truncated: false, head };
      chars = 0;
    } else if (!open) {
      orphans++;
      continue;
    }
    // Once cut, an entry takes no more lines: a later short line would leave a gap in it
    // and carry it past the limit.
    if (!open.truncated && chars + line.text.length <= rules.maxEntryChars) {
      open.lines.push(line.text);
      chars += line.text.length;
    } else {
      if (open.lines.length === 0) {
        open.lines.push(line.text.slice(0, rules.maxEntryChars));
        // What was read of the whole line is not what the entry holds.
        open.head = undefined;
      }
      open.truncated = true;
    }
    open.end = line.end;
    if (rules.endsEntry?.(line.text)) {
      entries.push(open);
      open = null;
    }
  }
  return { entries, open, orphans };
}

/**
 * Where the entry that frameLines would leave open starts, or null if it would leave none,
 * from the lines read backwards (`fromEnd`, last line first): the one thing a reader must know
 * of a read's entries to start its next read, found without framing all of them.
 */
export function openEntryStart(fromEnd: Iterable<Line>, rules: FrameRules): number | null {
  let ended = false;
  for (const line of fromEnd) {
    // A line that starts an entry may end it too.
    if (rules.endsEntry?.(line.text)) ended = true;
    if (rules.startsEntry(line.text)) return ended ? null : line.start;
  }
  return null;
}
