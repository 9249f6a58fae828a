// The parse worker reads exactly what this thread reads: the same chunks, cursors, items and
// problems, from the same bytes. It runs the worker module as built (vitest's globalSetup
// builds out/agent), so what is tested is what the agent starts.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PARSE_WORKER } from '../../../scripts/build-agent.mjs';
import {
  localReader,
  WorkerReader,
  type ChunkReader,
} from '../../../src-agent/collect/chunk-reader.ts';
import type { Chunk } from '../../../src-agent/collect/chunk.ts';
import { resolveSources } from '../../../src-agent/collect/sources.ts';
import { READ_CHUNK_BYTES } from '../../../src-agent/collect/tail.ts';
import { loadProfile } from '../../../src-agent/profiles/load.ts';
import type { ProfileSource } from '../../../src-agent/profiles/schema.ts';

const SAMPLES = path.resolve(import.meta.dirname, '../../../../shared/samples/logs');
const WORKER_URL = pathToFileURL(PARSE_WORKER);

let dir: string;
const readers: ChunkReader[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'chunk-reader-'));
});
afterEach(async () => {
  await Promise.all(readers.splice(0).map((r) => r.close()));
  await rm(dir, { recursive: true, force: true });
});

async function sources(kind: 'em' | 'lm'): Promise<ProfileSource[]> {
  return resolveSources(await loadProfile(kind), {});
}

/** Every chunk of `file`, read to its end as the collector does. */
async function readAll(reader: ChunkReader, source: ProfileSource, file: string): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  let previous: Chunk['cursor'] | undefined;
  for (;;) {
    const chunk = await reader.read({
      source: source.id,
      relPath: path.basename(file),
      absPath: file,
      encoding: source.encoding,
      previous,
      flushOpen: true,
    });
    if (!chunk) break;
    chunks.push(chunk);
    previous = chunk.cursor;
    if (chunk.atEof) break;
  }
  return chunks;
}

function worker(specs: ProfileSource[]): WorkerReader {
  const reader = new WorkerReader(WORKER_URL, specs);
  readers.push(reader);
  return reader;
}

describe('the parse worker', () => {
  it('reads the sample logs exactly as this thread does', async () => {
    const cases = [
      { kind: 'em' as const, source: 'em-server', file: 'em/SmartSEM/Log/EM Server.log' },
      { kind: 'lm' as const, source: 'zen', file: 'lm/Logging/ZEN.log.xml' },
      {
        kind: 'lm' as const,
        source: 'remote-service',
        file: 'lm/Remote Service/remote service.log.xml',
      },
    ];
    for (const { kind, source, file } of cases) {
      const specs = await sources(kind);
      const spec = specs.find((s) => s.id === source)!;
      // Enough copies for several reads.
      const copy = path.join(dir, path.basename(file));
      const text = await readFile(path.join(SAMPLES, file));
      const copies = Math.ceil((2 * READ_CHUNK_BYTES) / text.length) + 1;
      await writeFile(copy, Buffer.concat(Array.from({ length: copies }, () => text)));
      const here = await readAll(localReader(specs), spec, copy);
      const there = await readAll(worker(specs), spec, copy);
      expect(here.length).toBeGreaterThan(1);
      expect(there).toEqual(here);
      expect(here.reduce((n, c) => n + c.batch.count, 0)).toBeGreaterThan(200);
    }
  });

  it('reports what it could not read as this thread does', async () => {
    const specs = await sources('em');
    const spec = specs.find((s) => s.id === 'em-server')!;
    const file = path.join(dir, 'EM Server.log');
    await writeFile(
      file,
      Buffer.concat([
        Buffer.from('2025-05-11 08:00:04.236 | INFO  | System   | Operating Hours = 1.5 Hours\r\n'),
        Buffer.from('2025-13-45 99:00:04.236 | ERROR | System   | bad \x81\x8d date\r\n', 'latin1'),
      ]),
    );
    const here = await readAll(localReader(specs), spec, file);
    const there = await readAll(worker(specs), spec, file);
    expect(there).toEqual(here);
    expect(there.flatMap((c) => c.problems.map((p) => p.code))).toContain('parse_failed');
  });

  it('answers a missing file with null and a bad request with its error', async () => {
    const specs = await sources('em');
    const reader = worker(specs);
    const request = {
      source: 'em-server',
      relPath: 'gone.log',
      absPath: path.join(dir, 'gone.log'),
      encoding: 'cp1252',
      previous: undefined,
      flushOpen: false,
    };
    await expect(reader.read(request)).resolves.toBeNull();
    await expect(reader.read({ ...request, source: 'nonesuch' })).rejects.toThrow(
      'no parser for source "nonesuch"',
    );
    expect(reader.failed).toBe(false);
  });

  it('fails every read, pending or later, once its thread is gone', async () => {
    const specs = await sources('lm');
    const spec = specs.find((s) => s.id === 'zen')!;
    const file = path.join(dir, 'ZEN.log.xml');
    await cp(path.join(SAMPLES, 'lm/Logging/ZEN.log.xml'), file);
    const reader = worker(specs);
    const pending = reader.read({
      source: spec.id,
      relPath: 'ZEN.log.xml',
      absPath: file,
      encoding: spec.encoding,
      previous: undefined,
      flushOpen: true,
    });
    const refused = expect(pending).rejects.toThrow('the parse worker was closed');
    await reader.close();
    await refused;
    expect(reader.failed).toBe(true);
    await expect(readAll(reader, spec, file)).rejects.toThrow('the parse worker was closed');
  });
});
