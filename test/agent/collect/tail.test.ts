import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_ENTRY_CHARS, type SourceParser } from '../../../src-agent/collect/parse.ts';
import {
  MAX_READ_BYTES,
  READ_CHUNK_BYTES,
  tailOnce,
  type TailTarget,
} from '../../../src-agent/collect/tail.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'tail-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Framing only: tailOnce never parses.
const parser: SourceParser = {
  frame: { startsEntry: (line) => line.startsWith('2025-'), maxEntryChars: MAX_ENTRY_CHARS },
  parse: () => ({ items: [], problems: [], ts: null }),
};

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
    expect(pass?.entries.map((e) => [e.lines[0]?.length, e.truncated])).toEqual([
      [long.length, false],
    ]);
    expect(pass?.cursor.offset).toBe(long.length + 1);
  });

  it('cuts an entry that does not fit the largest read, and moves on', async () => {
    const huge = `2025-05-11 08:00:00 ${'y'.repeat(MAX_READ_BYTES + 10)}`;
    const t = await target(`${huge}\n2025-05-11 08:00:01 next\n`);
    const pass = await tailOnce(t, undefined, false);
    expect(pass?.oversized).toBe(true);
    expect(pass?.entries).toEqual([]);
    expect(pass?.cursor.offset).toBe(MAX_READ_BYTES);
  });
});
