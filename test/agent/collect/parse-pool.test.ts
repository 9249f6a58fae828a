// The parse workers parse exactly as this thread does: the same batches and problems from the
// same entries. They run the worker module as built (vitest's globalSetup builds out/agent),
// so what is tested is what the agent starts.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import iconv from 'iconv-lite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PARSE_WORKER } from '../../../scripts/build-agent.mjs';
import { detectEncoding } from '../../../src-agent/collect/decode.ts';
import { compileSources } from '../../../src-agent/collect/parse-job.ts';
import { localParser, ParsePool } from '../../../src-agent/collect/parse-pool.ts';
import { resolveSources } from '../../../src-agent/collect/sources.ts';
import { READ_CHUNK_BYTES } from '../../../src-agent/collect/tail.ts';
import { loadProfile } from '../../../src-agent/profiles/load.ts';
import type { ProfileSource } from '../../../src-agent/profiles/schema.ts';
import { jobsOf, SAMPLE_LOGS, SAMPLE_SOURCES } from '../../helpers/parse-jobs.ts';

const WORKER_URL = pathToFileURL(PARSE_WORKER);

let dir: string;
const pools: ParsePool[] = [];
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'parse-pool-'));
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  await rm(dir, { recursive: true, force: true });
});

function pool(specs: ProfileSource[], size: number): ParsePool {
  const created = new ParsePool(WORKER_URL, specs, size);
  pools.push(created);
  return created;
}

describe('the parse workers', () => {
  it('parse the sample logs exactly as this thread does', async () => {
    for (const { kind, source, file } of SAMPLE_SOURCES) {
      const specs = resolveSources(await loadProfile(kind), {});
      const spec = specs.find((s) => s.id === source)!;
      // Enough copies for several reads.
      const copy = path.join(dir, path.basename(file));
      const text = await readFile(path.join(SAMPLE_LOGS, file));
      const copies = Math.ceil((2 * READ_CHUNK_BYTES) / text.length) + 1;
      await writeFile(copy, Buffer.concat(Array.from({ length: copies }, () => text)));
      const jobs = await jobsOf(specs, spec, copy);
      expect(jobs.length).toBeGreaterThan(1);
      const here = localParser(compileSources(specs));
      const workers = pool(specs, 2);
      const expected = await Promise.all(jobs.map((job) => here.parse(job)));
      // All at once: the pool spreads them over its workers.
      const got = await Promise.all(jobs.map((job) => workers.parse(job)));
      expect(got).toEqual(expected);
      expect(got.reduce((n, p) => n + p.batch.count, 0)).toBeGreaterThan(copies);
    }
  });

  it('load what they load on demand: a code page and the full XML reader', async () => {
    // Shift-JIS needs iconv-lite's code tables beside the worker; a comment is beyond the
    // quick XML reader, so fast-xml-parser reads that event.
    const specs = resolveSources(await loadProfile('lm'), { zen: { encoding: 'shift_jis' } });
    const spec = specs.find((s) => s.id === 'zen')!;
    const file = path.join(dir, 'ZEN.log.xml');
    const event =
      '<log4net:event logger="Zeiss.Micro" timestamp="2025-06-23T08:00:08.1157034+01:00" ' +
      'level="ERROR" thread="1"><log4net:message>ランプ M&#252;ller<!-- x -->: 制御不能' +
      '</log4net:message></log4net:event>\r\n';
    await writeFile(file, iconv.encode(event, 'shift_jis'));
    const [job] = await jobsOf(specs, spec, file);
    const expected = await localParser(compileSources(specs)).parse(job!);
    const got = await pool(specs, 1).parse(job!);
    expect(got).toEqual(expected);
    expect(got.problems).toEqual([]);
    expect(got.batch.runs.join()).toContain('"ランプ Müller: 制御不能"');
  });

  it('report entries they cannot read as this thread does', async () => {
    const specs = resolveSources(await loadProfile('em'), {});
    const spec = specs.find((s) => s.id === 'em-server')!;
    const file = path.join(dir, 'EM Server.log');
    await writeFile(
      file,
      '2025-05-11 08:00:04.236 | INFO  | System   | Operating Hours = 1.5 Hours\r\n' +
        '2025-13-45 99:00:04.236 | ERROR | System   | no such date\r\n',
    );
    const [job] = await jobsOf(specs, spec, file);
    const expected = await localParser(compileSources(specs)).parse(job!);
    const got = await pool(specs, 1).parse(job!);
    expect(got).toEqual(expected);
    expect(got.problems.map((p) => p.code)).toEqual(['parse_failed']);
    expect(got.batch.count).toBe(1);
  });

  it('refuse a job for a source they do not know, and parse on', async () => {
    const specs = resolveSources(await loadProfile('em'), {});
    const workers = pool(specs, 1);
    const read = {
      bytes: Buffer.alloc(0),
      offset: 0,
      encoding: detectEncoding(Buffer.alloc(0), 'utf8'),
      lastCut: false,
    };
    const job = { source: 'nonesuch', relPath: 'x.log', read };
    await expect(workers.parse(job)).rejects.toThrow('no parser for source "nonesuch"');
    expect(workers.failed).toBe(false);
    const empty = { ...read, bytes: Buffer.alloc(0) };
    await expect(
      workers.parse({ ...job, source: 'em-server', read: empty }),
    ).resolves.toMatchObject({
      batch: { count: 0 },
    });
  });

  it('fail the jobs of the others with the reason one worker failed', async () => {
    // Each worker fails at a job for "bad" and never answers any other.
    const module = path.join(dir, 'fails-at-bad.mjs');
    await writeFile(
      module,
      [
        "import { parentPort } from 'node:worker_threads';",
        "parentPort.on('message', ({ job }) => {",
        "  if (job.source === 'bad') throw new Error('cannot parse bad');",
        '});',
      ].join('\n'),
    );
    const workers = new ParsePool(pathToFileURL(module), [], 2);
    pools.push(workers);
    const read = {
      bytes: Buffer.alloc(0),
      offset: 0,
      encoding: detectEncoding(Buffer.alloc(0), 'utf8'),
      lastCut: false,
    };
    const job = (source: string) => ({
      source,
      relPath: 'x.log',
      read: { ...read, bytes: Buffer.alloc(0) },
    });
    const waiting = workers.parse(job('good'));
    const failing = workers.parse(job('bad'));
    await expect(failing).rejects.toThrow('the parse worker failed: cannot parse bad');
    expect(workers.failed).toBe(true);
    const refused = expect(waiting).rejects.toThrow('the parse worker failed: cannot parse bad');
    await workers.close();
    await refused;
  });

  it('fail every job, pending or later, once closed', async () => {
    const specs = resolveSources(await loadProfile('lm'), {});
    const spec = specs.find((s) => s.id === 'zen')!;
    const [job] = await jobsOf(specs, spec, path.join(SAMPLE_LOGS, 'lm/Logging/ZEN.log.xml'));
    const workers = pool(specs, 2);
    const refused = expect(workers.parse(job!)).rejects.toThrow('the parse worker was closed');
    await workers.close();
    await refused;
    expect(workers.failed).toBe(true);
    await expect(workers.parse(job!)).rejects.toThrow('the parse worker was closed');
  });
});
