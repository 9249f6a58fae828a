// The parsing of one read's entries into a batch for the outbox: the costly part of
// collecting, which runs on the agent's thread or, during a backfill, in parse workers
// (parse-pool.ts). Either way the same code turns the same entries into the same batch.
import path from 'node:path';
import { BatchWriter, type ItemBatch } from '../outbox/batch.ts';
import type { ProfileSource } from '../profiles/schema.ts';
import type { CodedError } from '../status.ts';
import { readEntries, type ReadBytes } from './read-entries.ts';
import { compileSource, type BatchStates, type SourceParser } from './parse.ts';
import type { TailPass } from './tail.ts';

export interface ParseJob {
  source: string;
  /** The file's path in its source folder: problems name it, items may carry its name. */
  relPath: string;
  read: ReadBytes;
}

export interface ParsedBatch {
  batch: ItemBatch;
  /** Entries that could not be read, for the source's status. */
  problems: CodedError[];
  /** When the last entry that could be read was written. */
  lastTs: string | null;
}

export type SourceParsers = ReadonlyMap<string, SourceParser>;

export function compileSources(specs: readonly ProfileSource[]): SourceParsers {
  return new Map(specs.map((spec) => [spec.id, compileSource(spec)]));
}

export function parseJob(parsers: SourceParsers, { source, relPath, read }: ParseJob): ParsedBatch {
  const parser = parsers.get(source);
  if (!parser) throw new Error(`no parser for source "${source}"`);
  const file = path.basename(relPath);
  const { entries, replacements } = readEntries(read, parser.frame);
  const writer = new BatchWriter();
  const problems: CodedError[] = [];
  if (replacements > 0) {
    problems.push({
      code: 'decode_invalid',
      message: `${relPath}: ${replacements} undecodable bytes replaced`,
    });
  }
  const states: BatchStates = new Map();
  let lastTs: string | null = null;
  for (const entry of entries) {
    const outcome = parser.parse(entry, file, writer, states);
    for (const problem of outcome.problems) {
      problems.push({ code: 'parse_failed', message: `${relPath}: ${problem}` });
    }
    lastTs = outcome.ts ?? lastTs;
  }
  return { batch: writer.finish(), problems, lastTs };
}

/** What went wrong with a read as a whole, as opposed to one of its entries. */
export function readProblems(pass: TailPass, relPath: string): CodedError[] {
  return pass.oversized
    ? [{ code: 'line_too_long', message: `${relPath}: a line longer than one read was cut` }]
    : [];
}
