import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_ENTRY_CHARS } from '../../../src-agent/collect/parse.ts';
import { framingOnly } from '../../helpers/parse-items.ts';
import { readEntries } from '../../../src-agent/collect/read-entries.ts';
import {
  MAX_READ_BYTES,
  READ_CHUNK_BYTES,
  tailOnce,
  type TailPass,
  type TailTarget,
} from '../../../src-agent/collect/tail.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'tail-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const parser = framingOnly({
  startsEntry: (line) => line.startsWith('2025-'),
  maxEntryChars: MAX_ENTRY_CHARS,
});

const entriesOf = (pass: TailPass | null) =>
  pass ? readEntries(pass.read, parser.frame).entries : [];

async function target(content: string): Promise<TailTarget> {
  const absPath = path.join(dir, 'Server.log');
  await writeFile(absPath, content, 'latin1');
  return { source: 's', relPath: 'Server.log', absPath, encoding: 'cp1252', parser };
}

describe('tailOnce', () => {
  it('reads an entry longer than one read whole, by growing the read', async () => {
    const long = `2025-05-11 08:00:00 ${'x'.repeat(READ_CHUNK_BYTES * 2)}`;
    const t = await target(`${long}\n2025-05-11 08:00:01 next\n`);
    const pass = await tailOnce(t, undefined, false);
    expect(entriesOf(pass).map((e) => [e.lines[0]?.length, e.truncated])).toEqual([
      [long.length, false],
    ]);
    expect(pass?.cursor.offset).toBe(long.length + 1);
  });

  it('cuts an entry that does not fit the largest read, and moves on', async () => {
    const huge = `2025-05-11 08:00:00 ${'y'.repeat(MAX_READ_BYTES + 10)}`;
    const t = await target(`${huge}\n2025-05-11 08:00:01 next\n`);
    const pass = await tailOnce(t, undefined, false);
    expect(pass?.oversized).toBe(true);
    expect(entriesOf(pass)).toEqual([]);
    expect(pass?.cursor.offset).toBe(MAX_READ_BYTES);
  });

  it('cuts an entry of many lines that does not fit the largest read, and moves on', async () => {
    const trace = `   at ${'z'.repeat(94)}\n`;
    const lines = Math.ceil(MAX_READ_BYTES / trace.length) + 10;
    const t = await target(`2025-05-11 08:00:00 start\n${trace.repeat(lines)}2025-05-11 next\n`);
    const pass = await tailOnce(t, undefined, false);
    const [entry, ...others] = entriesOf(pass);
    expect(others).toEqual([]);
    expect(entry?.truncated).toBe(true);
    expect(entry?.lines[0]).toBe('2025-05-11 08:00:00 start');
    expect(pass?.oversized).toBe(false);
    // On at the end of the last whole line read: the rest of the entry is no entry's start.
    expect(pass?.cursor.offset).toBe(entry?.end);
    expect(pass!.cursor.offset).toBeGreaterThan(MAX_READ_BYTES - trace.length);
  });
});
