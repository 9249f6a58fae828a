import { describe, expect, it } from 'vitest';
import { frameLines, type Line } from '../../../src-agent/collect/entries.ts';

const rules = { startsEntry: (t: string) => /^\d{4}-/.test(t), maxEntryChars: 50 };
const lines = (...texts: string[]): Line[] => {
  let at = 0;
  return texts.map((text) => ({ text, start: at, end: (at += text.length + 1) }));
};

describe('frameLines', () => {
  it('attaches continuation lines to their entry and keeps the last one open', () => {
    const framed = frameLines(
      lines('2025-1 error', '   at X()', '   at Y()', '2025-2 next'),
      rules,
    );
    expect(framed.entries).toHaveLength(1);
    expect(framed.entries[0]!.lines).toEqual(['2025-1 error', '   at X()', '   at Y()']);
    expect(framed.open?.lines).toEqual(['2025-2 next']);
    expect(framed.open?.start).toBe(framed.entries[0]!.end);
  });

  it('counts lines before the first entry as orphans', () => {
    const framed = frameLines(lines('  dangling', '2025-1 a'), rules);
    expect(framed.orphans).toBe(1);
    expect(framed.open?.lines).toEqual(['2025-1 a']);
  });

  it("hands on what startsEntry read of an entry's first line, unless that line was cut", () => {
    const reading = { startsEntry: (t: string) => /^\d{4}-(\d)/.exec(t), maxEntryChars: 12 };
    const framed = frameLines(
      lines('2025-1 a', '   at X()', '2025-2 ' + 'x'.repeat(20), '2025-3'),
      reading,
    );
    expect(framed.entries.map((e) => (e.head as RegExpExecArray | undefined)?.[1])).toEqual([
      '1',
      undefined,
    ]);
    expect(framed.entries[1]!.lines).toEqual(['2025-2 xxxxx']);
    expect((framed.open?.head as RegExpExecArray)[1]).toBe('3');
  });

  it('cuts an entry at the size limit and flags it', () => {
    const framed = frameLines(lines('2025-1 ' + 'x'.repeat(30), 'y'.repeat(30), '2025-2'), rules);
    expect(framed.entries[0]!.truncated).toBe(true);
    expect(framed.entries[0]!.lines.join('').length).toBeLessThanOrEqual(50);
  });

  it('closes an entry at its end marker without waiting for the next', () => {
    const xml = {
      startsEntry: (t: string) => t.startsWith('<event'),
      endsEntry: (t: string) => t.endsWith('</event>'),
      maxEntryChars: 1000,
    };
    const framed = frameLines(lines('<event a>', 'trace</event>'), xml);
    expect(framed.entries).toHaveLength(1);
    expect(framed.open).toBeNull();
  });
});
