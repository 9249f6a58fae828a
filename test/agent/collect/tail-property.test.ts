// Tailing a log while it is written, at any pace: whatever bytes each write ends on (inside a
// line, a character, a byte order mark), and whenever the agent reads, the entries read are
// the entries written, each once and whole, in every encoding a log comes in.
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_ENTRY_CHARS } from '../../../src-agent/collect/parse.ts';
import { framingOnly } from '../../helpers/parse-items.ts';
import { readEntries } from '../../../src-agent/collect/read-entries.ts';
import { READ_CHUNK_BYTES, tailOnce, type TailTarget } from '../../../src-agent/collect/tail.ts';
import type { FileCursor } from '../../../src-agent/outbox/outbox.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'tail-property-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const parser = framingOnly({
  startsEntry: (line) => line.startsWith('2025-'),
  maxEntryChars: MAX_ENTRY_CHARS,
});

// Beyond cp1252: characters of several UTF-8 lengths, a surrogate pair, and U+0A05 beside
// U+0100, whose UTF-16 bytes hold a line feed's two bytes at an odd position (no line feed).
const WIDE = 'aZ09 =;.é€中😀ਅĀ';
const ENCODINGS = [
  { name: 'cp1252', bom: '', chars: 'aZ09 =;.é€ü' },
  { name: 'utf8', bom: '\uFEFF', chars: WIDE },
  { name: 'utf8', bom: '', chars: WIDE },
  { name: 'utf16le', bom: '\uFEFF', chars: WIDE },
  { name: 'utf16be', bom: '\uFEFF', chars: WIDE },
] as const;

/**
 * An entry as its lines: a first line, and continuation lines (a stack trace) or none. Now
 * and then the first line is longer than one read; no entry is longer than the largest read,
 * beyond which it is cut by design (tail.test.ts).
 */
const entry = (chars: string) => {
  const text = fc.array(fc.constantFrom(...chars), { maxLength: 30 }).map((c) => c.join(''));
  const first = text.chain((t) =>
    fc.oneof(
      { weight: 30, arbitrary: fc.constant(t) },
      { weight: 1, arbitrary: fc.constant(t + 'x'.repeat(READ_CHUNK_BYTES + 1000)) },
    ),
  );
  return fc
    .tuple(first, fc.array(text, { maxLength: 3 }))
    .map(([line, more]) => [`2025-05-11 08:00:00 ${line}`, ...more.map((m) => `   at ${m}`)]);
};

const scenario = fc.constantFrom(...ENCODINGS).chain((encoding) =>
  fc.record({
    encoding: fc.constant(encoding),
    entries: fc.array(entry(encoding.chars), { minLength: 1, maxLength: 12 }),
    crlf: fc.boolean(),
    // Where the bytes are cut into writes, as fractions of the whole; after which writes the
    // agent reads, and whether the writer had settled then (only at an entry's end).
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
    reads: fc.array(fc.boolean(), { maxLength: 14 }),
  }),
);

describe('tailOnce while a log is written', () => {
  it('reads each entry written once and whole, wherever the writes end', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async ({ encoding, entries, crlf, cuts, reads }) => {
        const eol = crlf ? '\r\n' : '\n';
        const texts = entries.map((lines) => lines.map((l) => l + eol).join(''));
        const bytes = iconv.encode(encoding.bom + texts.join(''), encoding.name);
        // Byte offsets at which an entry ends: where a settled writer may have stopped.
        const ends = new Set<number>();
        let at = encoding.bom ? iconv.encode(encoding.bom, encoding.name).length : 0;
        for (const t of texts) ends.add((at += iconv.encode(t, encoding.name).length));

        const absPath = path.join(dir, `Server-${run++}.log`);
        await writeFile(absPath, '');
        const target: TailTarget = {
          source: 's',
          relPath: 'Server.log',
          absPath,
          // Without a byte order mark, the source's configured code page decides.
          encoding: encoding.bom ? 'cp1252' : encoding.name,
          parser,
        };
        let cursor: FileCursor | undefined;
        const got: string[][] = [];
        const readToEnd = async (settled: boolean) => {
          for (;;) {
            const pass = await tailOnce(target, cursor, settled);
            if (!pass) return;
            expect(pass.cursor.offset).toBeGreaterThanOrEqual(cursor?.offset ?? 0);
            for (const e of readEntries(pass.read, parser.frame).entries) got.push(e.lines);
            cursor = pass.cursor;
            if (pass.atEof) return;
          }
        };

        const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort(
          (a, b) => a - b,
        );
        let written = 0;
        for (const [i, point] of [...points, bytes.length].entries()) {
          await appendFile(absPath, bytes.subarray(written, point));
          written = point;
          if (reads[i]) await readToEnd(ends.has(written));
        }
        await readToEnd(true);
        expect(got).toEqual(entries);
      }),
      { numRuns: 150 },
    );
  });
});
