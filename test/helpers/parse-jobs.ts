// A log file read to its end as the collector reads it, read after read: the parse jobs it
// makes of the file.
import path from 'node:path';
import { compileSources, type ParseJob } from '../../src-agent/collect/parse-job.ts';
import { tailOnce } from '../../src-agent/collect/tail.ts';
import type { ProfileSource } from '../../src-agent/profiles/schema.ts';

export async function jobsOf(
  specs: ProfileSource[],
  spec: ProfileSource,
  file: string,
): Promise<ParseJob[]> {
  const parser = compileSources(specs).get(spec.id)!;
  const target = {
    source: spec.id,
    relPath: path.basename(file),
    absPath: file,
    encoding: spec.encoding,
    parser,
  };
  const jobs: ParseJob[] = [];
  let cursor;
  for (;;) {
    const pass = await tailOnce(target, cursor, true);
    if (!pass) break;
    jobs.push({ source: spec.id, relPath: target.relPath, entries: pass.entries });
    cursor = pass.cursor;
    if (pass.atEof) break;
  }
  return jobs;
}
