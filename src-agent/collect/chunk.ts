// One read of a log file, parsed and serialized: what the collector commits in one
// transaction. It runs on the agent's thread, or in the parse worker during a backfill
// (chunk-worker.ts); either way the same code turns the same bytes into the same batch.
import path from 'node:path';
import type { FileCursor } from '../outbox/outbox.ts';
import { serializeItems, type ItemBatch } from '../outbox/batch.ts';
import type { ProfileSource } from '../profiles/schema.ts';
import type { CodedError } from '../status.ts';
import type { NewItem } from '../transport/codec.ts';
import { compileSource, type SourceParser } from './parse.ts';
import { tailOnce, type FileTarget } from './tail.ts';

export interface ChunkRequest extends FileTarget {
  previous: FileCursor | undefined;
  /** The writer has settled: an entry still open at the end of the file is complete. */
  flushOpen: boolean;
}

export interface Chunk {
  cursor: FileCursor;
  /** Where an entry still open at the end of the file ends, if there is one. */
  openEnd: number | null;
  atEof: boolean;
  /** Bytes of the file not yet read. */
  remaining: number;
  batch: ItemBatch;
  /** What could not be read, for the source's status. */
  problems: CodedError[];
}

export type SourceParsers = ReadonlyMap<string, SourceParser>;

export function compileSources(specs: readonly ProfileSource[]): SourceParsers {
  return new Map(specs.map((spec) => [spec.id, compileSource(spec)]));
}

/** The next chunk of the file from `request.previous` on, or null when there is no file. */
export async function readChunk(
  parsers: SourceParsers,
  request: ChunkRequest,
): Promise<Chunk | null> {
  const parser = parsers.get(request.source);
  if (!parser) throw new Error(`no parser for source "${request.source}"`);
  const { previous, flushOpen, ...target } = request;
  const pass = await tailOnce({ ...target, parser }, previous, flushOpen);
  if (!pass) return null;
  const { relPath } = request;
  const file = path.basename(relPath);
  const items: NewItem[] = [];
  const problems: CodedError[] = [];
  for (const entry of pass.entries) {
    const outcome = parser.parse(entry, file);
    for (const item of outcome.items) items.push(item);
    for (const problem of outcome.problems) {
      problems.push({ code: 'parse_failed', message: `${relPath}: ${problem}` });
    }
  }
  if (pass.replacementChars > 0) {
    problems.push({
      code: 'decode_invalid',
      message: `${relPath}: ${pass.replacementChars} undecodable bytes replaced`,
    });
  }
  if (pass.oversized) {
    problems.push({
      code: 'line_too_long',
      message: `${relPath}: a line longer than one read was cut`,
    });
  }
  return {
    cursor: pass.cursor,
    openEnd: pass.open?.end ?? null,
    atEof: pass.atEof,
    remaining: Math.max(0, pass.size - pass.cursor.offset),
    batch: serializeItems(items),
    problems,
  };
}
