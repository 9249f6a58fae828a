// Fuzz tests for what the agent reads from instrument PCs: whatever bytes a log folder
// holds, the decoders, framers and parsers must neither throw nor hang, and every item
// they produce must be one the server accepts (an item it refuses would block the outbox).
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { beforeAll, describe, expect, it } from 'vitest';
import { decode, detectEncoding, EncodingError } from '../../../src-agent/collect/decode.ts';
import type { Encoding } from '../../../src-agent/collect/decode.ts';
import { frameLines, openEntryStart } from '../../../src-agent/collect/entries.ts';
import type { Entry, FrameRules, Line } from '../../../src-agent/collect/entries.ts';
import { splitLines } from '../../../src-agent/collect/lines.ts';
import { compileSource, MAX_ENTRY_CHARS } from '../../../src-agent/collect/parse.ts';
import type { SourceParser } from '../../../src-agent/collect/parse.ts';
import { parseItems, type ParsedItems } from '../../helpers/parse-items.ts';
import { fileMatcher } from '../../../src-agent/collect/sources.ts';
import { loadProfile } from '../../../src-agent/profiles/load.ts';
import type { ProfileSource } from '../../../src-agent/profiles/schema.ts';
import { DEVICE_KINDS, itemSchema } from '../../../src-agent/transport/codec.ts';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const samplesDir = path.resolve(projectRoot, '../shared/samples');
const hasSamples = existsSync(path.join(samplesDir, 'logs'));
const NO_SAMPLES = hasSamples ? '' : ` (skipped: no sample logs at ${samplesDir})`;

/** Lone surrogates: invalid UTF-16 that a decoder must turn into U+FFFD, which is counted. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

// --- decoders and the line splitter --------------------------------------------------

const FALLBACKS = ['cp1252', 'utf-8', 'latin1', 'utf16le', 'utf-16le', 'utf-16be', 'utf-16'];
const BOMS = [[], [0xef, 0xbb, 0xbf], [0xff, 0xfe], [0xfe, 0xff]];

/** Random bytes, and bytes rich in line ends, NULs and surrogate halves. */
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .array(
      fc.oneof(
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom(0x0a, 0x0d, 0x00, 0xd8, 0xdb, 0xdc, 0xdf, 0x81, 0xc3, 0xed),
      ),
      { maxLength: 300 },
    )
    .map((a) => Uint8Array.from(a)),
);

/** The line feed as `encoding` writes it. */
const lineFeed = (e: Encoding) =>
  Buffer.from(e.unit === 1 ? [0x0a] : e.bigEndian ? [0, 10] : [10, 0]);
const carriageReturn = (e: Encoding) =>
  Buffer.from(e.unit === 1 ? [0x0d] : e.bigEndian ? [0, 13] : [13, 0]);

/** Whether `buf` holds a line feed at a code unit boundary. */
function hasLineFeed(buf: Buffer, e: Encoding): boolean {
  const lf = lineFeed(e);
  for (let at = buf.indexOf(lf); at >= 0; at = buf.indexOf(lf, at + 1)) {
    if (at % e.unit === 0) return true;
  }
  return false;
}

describe('decoders and splitLines on arbitrary bytes', () => {
  it('split complete lines only, contiguous, within the chunk, with no line feed inside', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...BOMS),
        bytes,
        fc.constantFrom(...FALLBACKS),
        fc.nat({ max: 1 << 20 }),
        (bom, raw, fallback, cursor) => {
          const file = Buffer.concat([Buffer.from(bom), raw]);
          const encoding = detectEncoding(file, fallback);
          expect(encoding.bomLength).toBeLessThanOrEqual(file.length);
          const chunk = file.subarray(encoding.bomLength);
          // The tail keeps cursors of two-byte encodings even; `base` is where the chunk sits.
          const base = cursor - (cursor % encoding.unit);
          const lines = splitLines(chunk, base, encoding);
          let at = base;
          let covered = 0;
          for (const line of lines) {
            expect(line.start).toBe(at);
            expect(line.end).toBeGreaterThan(line.start);
            expect(line.end).toBeLessThanOrEqual(base + chunk.length);
            expect((line.start - base) % encoding.unit).toBe(0);
            const span = chunk.subarray(line.start - base, line.end - base);
            const lf = lineFeed(encoding);
            expect(span.subarray(span.length - lf.length).equals(lf)).toBe(true);
            // The line's bytes are its span without the line feed and one carriage return.
            let body = span.subarray(0, span.length - lf.length);
            const cr = carriageReturn(encoding);
            if (body.length >= cr.length && body.subarray(body.length - cr.length).equals(cr)) {
              body = body.subarray(0, body.length - cr.length);
            }
            expect(line.bytes.equals(body)).toBe(true);
            expect(hasLineFeed(line.bytes, encoding)).toBe(false);
            covered += line.end - line.start;
            at = line.end;
          }
          expect(covered).toBeLessThanOrEqual(chunk.length);
          // Whatever is left is one partial line: no complete line was missed.
          expect(hasLineFeed(chunk.subarray(at - base), encoding)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('decode lines into text without line feeds or lone surrogates, never throwing', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...BOMS),
        bytes,
        fc.constantFrom(...FALLBACKS),
        (bom, raw, fb) => {
          const file = Buffer.concat([Buffer.from(bom), raw]);
          const encoding = detectEncoding(file, fb);
          for (const line of splitLines(file.subarray(encoding.bomLength), 0, encoding)) {
            const text = decode(line.bytes, encoding);
            expect(text).not.toContain('\n');
            // Invalid input must become U+FFFD: that is what the tail counts as decode_invalid.
            expect(text).not.toMatch(LONE_SURROGATE);
            if (encoding.unit === 2) {
              // Decoded in the byte order it was split in, not one guessed line by line.
              const order = encoding.bigEndian ? 'utf16be' : 'utf16le';
              const expected = iconv.decode(line.bytes, order).replace(LONE_SURROGATES, '\uFFFD');
              expect(text).toBe(expected);
            }
          }
          // A partial line is decoded when it completes; decoding it early must not throw either.
          expect(decode(file.subarray(encoding.bomLength), encoding)).not.toMatch(LONE_SURROGATE);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('turns lone surrogates written as UTF-16 bytes into counted replacement characters', () => {
    const utf16 = detectEncoding(Buffer.from([0xff, 0xfe]), 'cp1252');
    const text = decode(Buffer.from([0x41, 0, 0x00, 0xd8, 0x42, 0, 0x00, 0xdc, 0x00, 0xdc]), utf16);
    expect(text).toBe('A\uFFFDB\uFFFD\uFFFD');
    const be = detectEncoding(Buffer.from([0xfe, 0xff]), 'cp1252');
    expect(decode(Buffer.from([0xdb, 0xff, 0, 0x41]), be)).toBe('\uFFFDA');
    // A valid pair stays what it is.
    expect(decode(Buffer.from([0x3d, 0xd8, 0x00, 0xde]), utf16)).toBe('\u{1F600}');
  });

  it("reads back UTF-16 text without a BOM line by line, in the fallback's byte order", () => {
    // Code units whose bytes also read as the other order's ASCII (00 0A, 00 20, 00 61).
    const unit = fc.constantFrom('a', ' ', '\r', 'µ', '\u0a0d', '\u0a00', '\u2000', '\u6100');
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit, maxLength: 20 }), { maxLength: 8 }),
        fc.constantFrom('utf-16', 'utf16le', 'utf-16le', 'utf-16be'),
        (lines, fallback) => {
          const order = /be$/i.test(fallback) ? 'utf16be' : 'utf16le';
          const file = iconv.encode(lines.map((l) => `${l}\n`).join(''), order);
          const encoding = detectEncoding(file, fallback);
          const read = splitLines(file, 0, encoding).map((l) => decode(l.bytes, encoding));
          expect(read).toEqual(lines.map((l) => l.replace(/\r$/, '')));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('detectEncoding refuses an unknown fallback with an EncodingError, nothing else', () => {
    fc.assert(
      fc.property(bytes, fc.string({ maxLength: 20 }), (head, fallback) => {
        try {
          const encoding = detectEncoding(Buffer.from(head), fallback);
          expect([1, 2]).toContain(encoding.unit);
          expect(iconv.encodingExists(encoding.name)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(EncodingError);
        }
      }),
      { numRuns: 200 },
    );
  });
});

// --- the entry framer ----------------------------------------------------------------

describe('frameLines on arbitrary lines', () => {
  // A line starts an entry when it begins with "S", ends one when it ends with "E".
  const text = fc.string({ unit: fc.constantFrom('S', 'E', 'x', ' ', '<'), maxLength: 30 });

  it('covers the lines in order; cut entries keep a prefix within maxEntryChars; the open one is found from the end', () => {
    fc.assert(
      fc.property(
        fc.array(text, { maxLength: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.boolean(),
        (texts, maxEntryChars, withEnd) => {
          let offset = 0;
          const lines: Line[] = texts.map((t) => {
            const start = offset;
            offset += Buffer.byteLength(t) + 1;
            return { text: t, start, end: offset };
          });
          const rules: FrameRules = {
            startsEntry: (t) => t.startsWith('S'),
            ...(withEnd ? { endsEntry: (t: string) => t.endsWith('E') } : {}),
            maxEntryChars,
          };
          const framed = frameLines(lines, rules);

          // The reference: which lines each entry spans, and which belong to none.
          const spans: Line[][] = [];
          let current: Line[] | null = null;
          let orphans = 0;
          for (const line of lines) {
            if (rules.startsEntry(line.text)) spans.push((current = [line]));
            else if (current) current.push(line);
            else orphans++;
            if (current && rules.endsEntry?.(line.text)) current = null;
          }
          expect(framed.orphans).toBe(orphans);
          expect(framed.open !== null).toBe(current !== null);
          // What a reader finds from the end alone: where the open entry starts.
          expect(openEntryStart(lines.toReversed(), rules)).toBe(current?.[0]?.start ?? null);
          const all: Entry[] = framed.open ? [...framed.entries, framed.open] : framed.entries;
          expect(all.length).toBe(spans.length);

          all.forEach((entry, n) => {
            const span = spans[n]!;
            const texts = span.map((l) => l.text);
            expect(entry.start).toBe(span[0]!.start);
            expect(entry.end).toBe(span[span.length - 1]!.end);
            const chars = entry.lines.reduce((sum, l) => sum + l.length, 0);
            expect(chars).toBeLessThanOrEqual(maxEntryChars);
            if (!entry.truncated) {
              expect(entry.lines).toEqual(texts);
              return;
            }
            // A cut entry is the lines that fit, in order and without gaps, or else the
            // start of its first line.
            expect(entry.lines.length).toBeGreaterThan(0);
            if (entry.lines.length === 1 && entry.lines[0] !== texts[0]) {
              expect(entry.lines[0]).toBe(texts[0]!.slice(0, maxEntryChars));
            } else {
              expect(entry.lines).toEqual(texts.slice(0, entry.lines.length));
              // ... and it was cut because the next line would not fit.
              const next = texts[entry.lines.length] ?? '';
              expect(chars + next.length).toBeGreaterThan(maxEntryChars);
            }
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

// --- the parsers of every shipped profile --------------------------------------------

interface CompiledSource {
  spec: ProfileSource;
  parser: SourceParser;
}

let sources: CompiledSource[] = [];
/** Framed entries of the sample logs, per source id. */
const seeds = new Map<string, string[]>();

beforeAll(async () => {
  const profiles = await Promise.all(DEVICE_KINDS.map((kind) => loadProfile(kind)));
  sources = profiles
    .flatMap((p) => p.sources)
    .map((spec) => ({
      spec,
      parser: compileSource(spec),
      // A counterexample names the source instead of printing the whole profile.
      [fc.toStringMethod]: () => spec.id,
    }));
  if (hasSamples) {
    const files = await walk(path.join(samplesDir, 'logs'));
    for (const { spec, parser } of sources) {
      const matches = fileMatcher(spec);
      const entries: string[] = [];
      for (const file of files.filter((f) => matches(path.basename(f)))) {
        const raw = await readFile(file);
        const encoding = detectEncoding(raw, spec.encoding);
        const lines = splitLines(raw.subarray(encoding.bomLength), 0, encoding).map((l) => ({
          text: decode(l.bytes, encoding),
          start: l.start,
          end: l.end,
        }));
        const framed = frameLines(lines, parser.frame);
        for (const e of framed.entries) entries.push(e.lines.join('\n'));
      }
      seeds.set(spec.id, entries);
    }
  }
});

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

const entryOf = (lines: string[], truncated = false): Entry => ({
  lines,
  start: 0,
  end: 1,
  truncated,
});

/**
 * What the tail does with text: split at line feeds, frame, and parse every entry; `reread`
 * drops what the framer read of each entry's first line, so that the reader reads it anew.
 */
function parseText(source: CompiledSource, text: string, reread = false): ParsedItems {
  let offset = 0;
  const lines = text.split('\n').map((t) => {
    const start = offset;
    offset += t.length + 1;
    return { text: t, start, end: offset };
  });
  const framed = frameLines(lines, source.parser.frame);
  const entries = framed.open ? [...framed.entries, framed.open] : framed.entries;
  const out = { items: [] as ParsedItems['items'], problems: [] as string[], ts: null };
  for (const entry of entries) {
    const { items, problems } = parseItems(
      source.parser,
      reread ? { ...entry, head: undefined } : entry,
      'fuzz.log',
    );
    out.items.push(...items);
    out.problems.push(...problems);
  }
  return out;
}

/** Every item must pass the server's own validation and survive JSON unchanged. */
function expectSendable(source: CompiledSource, outcome: ParsedItems): void {
  for (const problem of outcome.problems) expect(typeof problem).toBe('string');
  for (const item of outcome.items) {
    const checked = itemSchema.safeParse({ seq: 1, ...item });
    if (!checked.success) {
      throw new Error(`unsendable item ${JSON.stringify(item)}: ${checked.error.message}`);
    }
    expect(item.source).toBe(source.spec.id);
    expect(JSON.parse(JSON.stringify(item))).toStrictEqual(item);
  }
}

/** Runs `fn` and fails when it takes longer than `limitMs`: the guard against hangs. */
function within<T>(limitMs: number, what: string, fn: () => T): T {
  const started = performance.now();
  const result = fn();
  const took = performance.now() - started;
  if (took > limitMs) throw new Error(`${what} took ${took.toFixed(0)} ms (limit ${limitMs} ms)`);
  return result;
}

/** Pieces that mean something to one of the formats, for inserting into real lines. */
const TOKENS = [
  '<',
  '>',
  '/>',
  '&',
  ';',
  '"',
  "'",
  '=',
  ' = ',
  '|',
  ' | ',
  ',',
  '\t',
  '\r',
  '\n',
  '\u0000',
  '\uD800',
  '\uDFFF',
  '\uFFFD',
  '\u2028',
  '<![CDATA[',
  ']]>',
  '&amp;',
  '&#0;',
  '&#xD800;',
  '&#x110000;',
  '&unknown;',
  '</event>',
  '<event ',
  '<message>',
  '</message>',
  '<exception>',
  '<record ',
  '<data name="__proto__" value="x"/>',
  '<data name="SoftwareVersion" value="9"/>',
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'e-999',
  '1e400',
  '-0',
  'NaN',
  'Infinity',
  'C:\\Users\\jdoe\\x.tif',
  '\\\\server\\share\\',
  'user=jdoe',
  '9999-12-31T23:59:59-23:59',
  '9999-12-31 23:59:59.999',
  '12/31/9999 23:59:59',
  '0000-00-00 00:00:00',
  '2025-13-45 25:61:61',
  'ERROR',
  'WARN',
  'FATAL',
];

const textPiece = fc.oneof(
  fc.constantFrom(...TOKENS),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('1', '.', 'e', '-', ' ', 'x'), maxLength: 40 }),
);

const mutation = fc.record({
  at: fc.nat(),
  remove: fc.nat({ max: 12 }),
  insert: fc.array(textPiece, { maxLength: 3 }).map((a) => a.join('')),
});

function mutate(text: string, edits: { at: number; remove: number; insert: string }[]): string {
  let out = text;
  for (const { at, remove, insert } of edits) {
    const i = out.length === 0 ? 0 : at % (out.length + 1);
    out = out.slice(0, i) + insert + out.slice(i + remove);
  }
  return out;
}

describe('compileSource(...).parse for every source of every shipped profile', () => {
  const source = () => fc.constantFrom(...sources);

  it('loads every shipped profile', () => {
    expect(sources.length).toBeGreaterThanOrEqual(DEVICE_KINDS.length);
  });

  it('never throws on arbitrary text and emits only sendable items', () => {
    fc.assert(
      fc.property(
        source(),
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.array(textPiece, { maxLength: 30 }).map((a) => a.join('')),
        ),
        (s, text) =>
          expectSendable(
            s,
            within(1000, s.spec.id, () => parseText(s, text)),
          ),
      ),
      { numRuns: 300 },
    );
  });

  it.skipIf(!hasSamples)(`never throws on mutated sample entries${NO_SAMPLES}`, () => {
    const seeded = sources.filter((s) => (seeds.get(s.spec.id) ?? []).length > 0);
    // Every shipped source has sample lines, or this test would fuzz less than it claims.
    expect(seeded.map((s) => s.spec.id)).toEqual(sources.map((s) => s.spec.id));
    fc.assert(
      fc.property(
        fc
          .constantFrom(...seeded)
          .chain((s) => fc.tuple(fc.constant(s), fc.constantFrom(...seeds.get(s.spec.id)!))),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        ([s, seed], edits) => {
          const text = mutate(seed, edits);
          expectSendable(
            s,
            within(1000, s.spec.id, () => parseText(s, text)),
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  it.skipIf(!hasSamples)(
    `reads mutated sample entries the same with the framer's reading as without${NO_SAMPLES}`,
    () => {
      fc.assert(
        fc.property(
          fc
            .constantFrom(...sources.filter((s) => (seeds.get(s.spec.id) ?? []).length > 0))
            .chain((s) => fc.tuple(fc.constant(s), fc.constantFrom(...seeds.get(s.spec.id)!))),
          fc.array(mutation, { maxLength: 6 }),
          ([s, seed], edits) => {
            const text = mutate(seed, edits);
            expect(parseText(s, text)).toEqual(parseText(s, text, true));
          },
        ),
        { numRuns: 500 },
      );
    },
  );

  it.skipIf(!hasSamples)(`reads the unmutated sample entries into items${NO_SAMPLES}`, () => {
    // The baseline for the mutations: the seeds themselves are good entries.
    let items = 0;
    for (const s of sources) {
      for (const seed of seeds.get(s.spec.id) ?? []) {
        const outcome = parseText(s, seed);
        expectSendable(s, outcome);
        items += outcome.items.length;
      }
    }
    expect(items).toBeGreaterThan(50);
  });
});

// --- XML: truncation, CDATA, entities ------------------------------------------------

/** A real ZEN event (from the sample ZEN.log.xml), spanning two lines through its exception. */
const ZEN_EVENT =
  '<event logger="Zeiss.Micro.Focus" timestamp="2025-06-23T08:03:55.1017550+01:00" level="ERROR" thread="21" domain="ZEN.exe" username="LAB\\m.tanaka"><message>Focus drive did not reach the requested position (Z = 1532.2 µm)</message><properties><data name="SoftwareVersion" value="3.12.571.03810" /></properties><exception>System.TimeoutException: Requested position was not reached\n   at Zeiss.Micro.Focus.Move()</exception></event>';
const ZEN_LINE =
  '<event logger="Zeiss.Micro.Hardware.Lamp" timestamp="2025-06-23T08:00:04.9985020+01:00" level="INFO" thread="28" domain="ZEN.exe" username="LAB\\schmidt_k"><message>HXP lamp operating hours: 1590.8 h</message><properties><data name="SoftwareVersion" value="3.12.571.03810" /></properties></event>';

const event = (inner: string, level = 'INFO') =>
  `<event logger="L" timestamp="2025-06-23T08:00:04+01:00" level="${level}">${inner}</event>`;

const xmlSources = () => sources.filter((s) => s.spec.format.type === 'log4net-xml');
const zen = () => sources.find((s) => s.spec.id === 'zen')!;

describe('XML entries', () => {
  it('yields no item but a problem for an event cut at any position', () => {
    expect(xmlSources().length).toBeGreaterThan(0);
    for (const s of xmlSources()) {
      for (const full of [ZEN_EVENT, ZEN_LINE]) {
        const whole = parseText(s, full);
        expect(whole.problems).toEqual([]);
        // The whole event is an error (every source) or a lamp reading (zen's rules).
        if (full === ZEN_EVENT || s.spec.id === 'zen')
          expect(whole.items.length).toBeGreaterThan(0);
        for (let cut = 0; cut < full.length; cut++) {
          const outcome = parseText(s, full.slice(0, cut));
          expectSendable(s, outcome);
          expect(outcome.items).toEqual([]);
          // Lines before the first `<event` are orphans, not entries: nothing to report yet.
          if (full.slice(0, cut).trimStart().startsWith('<event ')) {
            expect(outcome.problems.length).toBeGreaterThan(0);
          }
        }
      }
    }
  });

  it('reads CDATA, and survives broken CDATA', () => {
    const s = zen();
    const hours = parseText(
      s,
      event('<message><![CDATA[HXP lamp operating hours: 1.5 h]]></message>'),
    );
    expect(hours.items).toEqual([expect.objectContaining({ name: 'lamp.hxp.hours', value: 1.5 })]);
    const tricky = parseText(
      s,
      event('<message><![CDATA[a </message> & <b> ]] ]>]]></message>', 'ERROR'),
    );
    expect(tricky.items.map((i) => i.value)).toEqual(['a </message> & <b> ]] ]>']);
    const cases = [
      event('<message><![CDATA[never closed</message>', 'ERROR'),
      event('<message><![CDATA[]]></message>', 'ERROR'),
      event('<message><![CDATA[a]]><![CDATA[b]]>c</message>', 'ERROR'),
      event('<message><![CDATA[<![CDATA[nested]]>]]></message>', 'ERROR'),
      event('<message>]]></message>', 'ERROR'),
      // `</event>` at a line's end inside CDATA ends the entry early: framing cannot know.
      event('<message><![CDATA[one\ntwo</event>\nthree]]></message>', 'ERROR'),
      '<event timestamp="<![CDATA[2025]]>" level="ERROR"><message>x</message></event>',
      event(`<message><![CDATA[${'x'.repeat(100_000)}]]></message>`, 'ERROR'),
      event(`<message>${'<![CDATA['.repeat(20_000)}</message>`, 'ERROR'),
    ];
    for (const text of cases)
      expectSendable(
        s,
        within(1000, 'CDATA', () => parseText(s, text)),
      );
  });

  it('does not expand entity bombs, and finishes quickly', () => {
    const laughs =
      '<!DOCTYPE l [' +
      Array.from({ length: 10 }, (_, i) =>
        i === 9 ? '<!ENTITY l0 "lol">' : `<!ENTITY l${9 - i} "${`&l${8 - i};`.repeat(10)}">`,
      ).join('') +
      ']>';
    const big = `<!DOCTYPE q [<!ENTITY a "${'a'.repeat(9_999)}">]>`;
    const many = `<!DOCTYPE m [${Array.from({ length: 2_000 }, (_, i) => `<!ENTITY e${i} "v">`).join('')}]>`;
    const cases = [
      event(`${laughs}<message>&l9;</message>`, 'ERROR'),
      `${laughs}\n${event('<message>&l9;&l9;&l9;</message>', 'ERROR')}`,
      event(`<message>${laughs}&l9;</message>`, 'ERROR'),
      event(`${big}<message>${'&a;'.repeat(30_000)}</message>`, 'ERROR'),
      event(
        `${big}<message>x</message><properties><data name="a" value="${'&a;'.repeat(1000)}"/></properties>`,
      ),
      event(`${many}<message>&e1999;</message>`, 'ERROR'),
      event(
        '<!DOCTYPE x [<!ENTITY x SYSTEM "file:///etc/passwd">]><message>&x;</message>',
        'ERROR',
      ),
      event('<!DOCTYPE x [<!ENTITY % p "&#37;p;">%p;]><message>x</message>', 'ERROR'),
      event('<!DOCTYPE x [<!ENTITY a "&a;">]><message>&a;</message>', 'ERROR'),
      event(`<!DOCTYPE ${'['.repeat(50_000)}<message>x</message>`, 'ERROR'),
    ];
    for (const s of xmlSources()) {
      for (const text of cases) {
        const outcome = within(1000, `${s.spec.id} entity case`, () => parseText(s, text));
        expectSendable(s, outcome);
        for (const item of outcome.items) {
          expect(JSON.stringify(item)).not.toMatch(/lollollol|root:/);
        }
      }
    }
  });

  it('reads invalid UTF-16 (lone surrogates as bytes) into sendable items', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...xmlSources()),
        fc.array(fc.record({ at: fc.nat(), unit: fc.integer({ min: 0xd800, max: 0xdfff }) }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.boolean(),
        (s, surrogates, bigEndian) => {
          const units = Array.from({ length: ZEN_LINE.length }, (_, i) => ZEN_LINE.charCodeAt(i));
          for (const { at, unit } of surrogates) units.splice(at % (units.length + 1), 0, unit);
          const written = String.fromCharCode(...units);
          const file = Buffer.alloc(2 + (units.length + 1) * 2);
          file.writeUInt16BE(bigEndian ? 0xfeff : 0xfffe, 0);
          [...units, 0x0a].forEach((u, i) =>
            (bigEndian ? file.writeUInt16BE : file.writeUInt16LE).call(file, u, 2 + i * 2),
          );
          const encoding = detectEncoding(file, s.spec.encoding);
          const text = splitLines(file.subarray(2), 2, encoding)
            .map((l) => decode(l.bytes, encoding))
            .join('\n');
          // Each lone half becomes U+FFFD (counted by the tail); two halves that meet are a pair.
          expect(text).toBe(written.replace(LONE_SURROGATES, '\uFFFD'));
          expectSendable(s, parseText(s, text));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('takes units named like Object.prototype members as plain text', () => {
    for (const s of sources) {
      for (const unit of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
        const labels = s.spec.rules.flatMap((r) =>
          r.type === 'labels' ? Object.keys(r.labels) : [],
        );
        for (const label of labels) {
          const outcome = parseText(s, wrap(s, `${label} = 1 ${unit}`));
          expectSendable(s, outcome);
        }
      }
    }
    const em = sources.find((s) => s.spec.id === 'em-server')!;
    const { items } = parseText(em, wrap(em, 'Gun Vacuum = 1 constructor'));
    expect(items.find((i) => i.name === 'vacuum.gun')).toMatchObject({ unit: 'constructor' });
  });

  it('carries NUL characters through to sendable items', () => {
    for (const s of sources) {
      const nul = '\u0000';
      const outcome = parseText(
        s,
        [
          event(`<message>a${nul}b</message>`, 'ERROR'),
          `2025-05-11 08:06:27.120 | ERROR | Vacuum   | a${nul}b`,
          `2025-08-08 08:00:05.113 [ERROR] [Motion] a${nul}b`,
          `${nul}${nul}${nul}`,
        ].join('\n'),
      );
      expectSendable(s, outcome);
    }
  });
});

// --- timestamps and the entry lines of each source ------------------------------------

/** The parts of a timestamp, as written (so out-of-range numbers can be written too). */
interface Stamp {
  year: string;
  month: string;
  day: string;
  time: string;
  /** Fraction and offset: only the XML formats carry an offset. */
  fraction: string;
  offset: string;
}

const STAMP: Stamp = {
  year: '2025',
  month: '06',
  day: '23',
  time: '08:00:04',
  fraction: '.123',
  offset: '+01:00',
};

/** An entry of source `s` at `stamp` whose message (and, in XML, a field) is `body`. */
function wrap(s: CompiledSource, body: string, stamp: Stamp = STAMP): string {
  const { year, month, day, time, fraction, offset } = stamp;
  const iso = `${year}-${month}-${day}T${time}${fraction}${offset}`;
  const ymd = `${year}-${month}-${day} ${time}${fraction}`;
  switch (s.spec.format.type) {
    case 'log4net-xml':
      return `<event logger="L" timestamp="${iso}" level="ERROR"><message>${body}</message><properties><data name="SoftwareVersion" value="${body}"/></properties></event>`;
    case 'xml-records':
      return `<record timestamp="${iso}" name="lamp.hxp.operating_hours" value="${body}" unit="${body}" />`;
    case 'lines':
      break;
  }
  const lines: Record<string, string> = {
    'em-server': `${ymd} | ERROR | Vacuum   | ${body}`,
    'smartsem-logs': `${ymd} | ERROR | GIS      | ${body}`,
    'xradia-app': `${ymd} [ERROR] [SourceController] ${body}`,
    'xray-source': `${month}/${day}/${year} ${time}${fraction}, Tube, ${body}`,
  };
  const line = lines[s.spec.id];
  if (line === undefined) throw new Error(`no entry line for source ${s.spec.id}: add one`);
  return line;
}

const pad = (width: number, max: number) =>
  fc.integer({ min: 0, max }).map((n) => String(n).padStart(width, '0'));

const stamps: fc.Arbitrary<Stamp> = fc.record({
  year: pad(4, 9999),
  month: pad(2, 13),
  day: pad(2, 32),
  time: fc.tuple(pad(2, 24), pad(2, 60), pad(2, 61)).map((t) => t.join(':')),
  fraction: fc.constantFrom('', '.0', '.999', '.9999999', `.${'9'.repeat(40)}`),
  offset: fc.constantFrom('', 'Z', '+00:00', '+14:00', '-12:00', '+99:99', '-99:99', '-2359'),
});

describe('timestamps', () => {
  it('gives every item an instant the server accepts, whatever the date and host zone', () => {
    const zone = process.env.TZ;
    try {
      // Node applies a changed TZ at once; the zones furthest east and west of UTC.
      for (const tz of ['Pacific/Kiritimati', 'Etc/GMT+12', 'UTC']) {
        process.env.TZ = tz;
        fc.assert(
          fc.property(fc.constantFrom(...sources), stamps, (s, stamp) => {
            expectSendable(s, parseText(s, wrap(s, 'Operating Hours = 1 h', stamp)));
          }),
          { numRuns: 300 },
        );
        for (const s of sources) {
          const last = { ...STAMP, year: '9999', month: '12', day: '31', time: '23:59:59' };
          expectSendable(s, parseText(s, wrap(s, 'x', { ...last, offset: '-99:99' })));
          expectSendable(s, parseText(s, wrap(s, 'x', { ...last, offset: '' })));
        }
      }
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });
});

// --- entries at the size limits: no regular expression may backtrack its way into a hang

/** The literal text a `^`-anchored pattern starts with: what a message needs to reach it. */
function literalStart(pattern: string): string {
  const m = /^\^([^\\()[\]{}.*+?|$]*)/.exec(pattern);
  return m?.[1] ?? '';
}

/** Messages that reach each rule: a label or a regex's literal start, then a long tail. */
function bodies(s: CompiledSource, n: number): string[] {
  const heads = ['', 'C:\\', '\\\\server\\', 'user=', '('];
  for (const rule of s.spec.rules) {
    if (rule.type === 'labels') {
      for (const label of Object.keys(rule.labels)) heads.push(`${label} = `, `${label}=`);
    } else if (rule.type === 'regex') {
      heads.push(literalStart(rule.match));
    }
  }
  const tails = [
    ' '.repeat(n) + 'x',
    '1'.repeat(n) + '\rx',
    // A line terminator inside the text, where trimming does not take it away.
    '1'.repeat(n) + 'x\ry',
    '1'.repeat(n) + 'x\u2028y',
    '1'.repeat(n) + '  x',
    '1.'.repeat(n / 2) + '\u2028',
    '(1'.repeat(n / 2),
    'x'.repeat(n),
    ';'.repeat(n),
    'a=1'.repeat(n / 3) + '\r',
    '<'.repeat(n),
    '&'.repeat(n),
    '\\'.repeat(n),
    '\u0000'.repeat(n),
    'C:\\ '.repeat(n / 4),
  ];
  return heads.flatMap((h) => tails.map((t) => h + t));
}

describe('long entries', () => {
  it('parses entries of up to 64 kB of repetitive text in linear time', () => {
    // Growing sizes, so that a regex that backtracks catastrophically fails at 1 kB rather
    // than hanging the run: a synchronous parse cannot be interrupted. The limits bound a
    // hang, not a speed: linear parses take under 50 ms at 64 kB, so they hold however
    // busy the machine is (speed itself is measured by bench/ingest).
    for (const [n, limitMs] of [
      [1024, 2000],
      [8 * 1024, 4000],
      [64 * 1024, 8000],
    ] as const) {
      for (const s of sources) {
        for (const body of bodies(s, n)) {
          const text = wrap(s, body);
          const what = `${s.spec.id}: ${JSON.stringify(body.slice(0, 40))} (${n} chars)`;
          expectSendable(
            s,
            within(limitMs, what, () => parseText(s, text)),
          );
        }
      }
    }
  }, 60_000);

  it('parses a ZEN lamp line with a 24 kB number without backtracking', () => {
    const s = zen();
    const text = wrap(s, `HXP lamp operating hours: ${'1'.repeat(24 * 1024)}  x`);
    expectSendable(
      s,
      within(2000, 'zen: lamp.hxp.hours', () => parseText(s, text)),
    );
  });

  it('cuts an entry at MAX_ENTRY_CHARS and reports it, within a bounded time', () => {
    for (const s of sources) {
      // A line longer than any entry: what one read of the tail can hand the framer.
      const text = wrap(s, 'Operating Hours = 1 ' + 'x'.repeat(2 * MAX_ENTRY_CHARS));
      const outcome = within(2000, s.spec.id, () => parseText(s, text));
      expectSendable(s, outcome);
      expect(outcome.problems.some((p) => p.includes('was cut'))).toBe(true);
      const cut = parseItems(s.parser, entryOf(['x'.repeat(10)], true), 'f');
      expect(cut.problems[0]).toMatch(/was cut/);
    }
  }, 30_000);
});
