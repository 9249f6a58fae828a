// A read holds whole entries only, and is framed where it is parsed: read after read, the
// entries must be exactly those of framing the whole file at once, whatever the lines hold
// (empty lines, blanks, non-ASCII, CRLF, lines cut at the entry limit), in every encoding and
// wherever a read ends; and the bytes cross to a parse worker without a copy.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectEncoding } from '../../../src-agent/collect/decode.ts';
import { frameLines, type Entry, type FrameRules } from '../../../src-agent/collect/entries.ts';
import { decodeLines } from '../../../src-agent/collect/lines.ts';
import { readEntries, transferables } from '../../../src-agent/collect/read-entries.ts';
import { READ_CHUNK_BYTES, tailOnce, type TailTarget } from '../../../src-agent/collect/tail.ts';
import type { FileCursor } from '../../../src-agent/outbox/outbox.ts';
import { framingOnly } from '../../helpers/parse-items.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'read-entries-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Lines starting with # start an entry; with `withEnd`, lines ending with $ end one. */
function rulesOf(maxEntryChars: number, withEnd: boolean): FrameRules {
  return {
    startsEntry: (t) => t.startsWith('#'),
    ...(withEnd ? { endsEntry: (t: string) => t.endsWith('$') } : {}),
    maxEntryChars,
  };
}

let files = 0;

async function targetOf(bytes: Uint8Array, encoding: string, frame: FrameRules) {
  const absPath = path.join(dir, `app${++files}.log`);
  await writeFile(absPath, bytes);
  const parser = framingOnly(frame);
  return {
    source: 's',
    relPath: path.basename(absPath),
    absPath,
    encoding,
    parser,
  } satisfies TailTarget;
}

/**
 * The whole file framed at once: its entries, the one left open at its end, and where its
 * last complete line ends.
 */
function framedAtOnce(bytes: Uint8Array, encodingName: string, rules: FrameRules) {
  const encoding = detectEncoding(Buffer.from(bytes), encodingName);
  const body = Buffer.from(bytes).subarray(encoding.bomLength);
  const { lines } = decodeLines(body, encoding.bomLength, encoding);
  return { ...frameLines(lines, rules), linesEnd: lines.at(-1)?.end ?? encoding.bomLength };
}

const ENCODINGS = ['utf8', 'cp1252', 'utf16le', 'utf16be', 'shift_jis'] as const;

const line = fc.tuple(
  fc.boolean(),
  fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, '')),
  fc.boolean(),
  fc.constantFrom('\n', '\r\n'),
);
const textOf = (lines: [boolean, string, boolean, string][]) =>
  lines.map(([start, t, end, eol]) => `${start ? '#' : ''}${t}${end ? '$' : ''}${eol}`).join('');

describe('a read', () => {
  it('holds the entries framing finds in the bytes read, wherever the read ends', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 30 }),
        fc.constantFrom(...ENCODINGS),
        fc.integer({ min: 1, max: 40 }),
        fc.boolean(),
        fc.boolean(),
        fc.nat(),
        async (lines, encodingName, maxEntryChars, withEnd, flushOpen, cutAt) => {
          const encoded = iconv.encode(textOf(lines), encodingName);
          // The file as its writer has got so far: mid-line, mid-character even.
          const bytes = encoded.subarray(0, cutAt % (encoded.length + 1));
          const rules = rulesOf(maxEntryChars, withEnd);
          const pass = await tailOnce(
            await targetOf(bytes, encodingName, rules),
            undefined,
            flushOpen,
          );
          const { entries, open, linesEnd } = framedAtOnce(bytes, encodingName, rules);
          const held = flushOpen ? null : open;

          expect(readEntries(pass!.read, rules).entries).toEqual(
            open && !held ? [...entries, open] : entries,
          );
          expect(pass!.open).toEqual(held && { start: held.start, end: held.end });
          // On at the open entry, or else past every complete line, orphans included.
          expect(pass!.cursor.offset).toBe(held?.start ?? linesEnd);
        },
      ),
      { numRuns: 300 },
    );
  });

  // Ended at once, as a rotated file is finished: only the file's last entry may be ended early.
  it.each([false, true])(
    'read after read, holds the entries of the whole file framed at once (ending open entries: %s)',
    async (flushOpen) => {
      for (const encodingName of ENCODINGS) {
        // Entries of a dozen lines, three reads' worth or more, the same every run.
        const random = fc.sample(fc.array(line, { minLength: 200, maxLength: 200 }), {
          numRuns: 1,
          seed: 7,
        })[0]!;
        const lines: string[] = [];
        for (let chars = 0; chars < 2.5 * READ_CHUNK_BYTES; chars += lines.at(-1)!.length) {
          const n = lines.length;
          lines.push(n % 12 === 0 ? `#entry ${n} ü\r\n` : textOf([random[n % 200]!]).slice(1));
        }
        const bytes = iconv.encode(lines.join(''), encodingName);
        const rules = rulesOf(400, false);
        const target = await targetOf(bytes, encodingName, rules);

        const got: Entry[] = [];
        let cursor: FileCursor | undefined;
        let reads = 0;
        for (let atEof = false; !atEof; reads++) {
          const pass = await tailOnce(target, cursor, flushOpen);
          got.push(...readEntries(pass!.read, rules).entries);
          cursor = pass!.cursor;
          atEof = pass!.atEof;
        }
        const last = await tailOnce(target, cursor, true);
        got.push(...readEntries(last!.read, rules).entries);

        const { entries, open } = framedAtOnce(bytes, encodingName, rules);
        expect(reads).toBeGreaterThan(2);
        expect(got).toEqual([...entries, open]);
      }
    },
  );

  const text =
    '#<event a="1">\r\n\r\n  <message>ü</message></event>\r\n#' + 'x'.repeat(100) + '\n#\n';

  it('crosses to a worker whole, its bytes handed over rather than copied', async () => {
    const rules = rulesOf(50, false);
    const pass = await tailOnce(await targetOf(Buffer.from(text), 'utf8', rules), undefined, true);
    const expected = readEntries(pass!.read, rules).entries;
    expect(expected).toHaveLength(3);
    expect(expected[1]!.truncated).toBe(true);
    const copy = structuredClone(pass!.read, { transfer: transferables(pass!.read) });
    expect(pass!.read.bytes.byteLength).toBe(0);
    expect(readEntries(copy, rules).entries).toEqual(expected);
  });

  // Node marks its buffer pool untransferable, so that no handover takes it from its users.
  it("leaves bytes in Node's shared buffer pool to their other users", () => {
    const pool = Buffer.from(`unrelated${text}`);
    const read = {
      bytes: pool.subarray(9),
      offset: 0,
      encoding: detectEncoding(Buffer.alloc(0), 'utf8'),
      lastCut: false,
    };
    const rules = rulesOf(50, false);
    const copy = structuredClone(read, { transfer: transferables(read) });
    expect(pool.toString()).toBe(`unrelated${text}`);
    expect(readEntries(copy, rules).entries).toEqual(readEntries(read, rules).entries);
  });
});
