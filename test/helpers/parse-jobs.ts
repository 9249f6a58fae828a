// A log file read to its end as the collector reads it, read after read: the parse jobs it
// makes of the file; and the sample logs of the sources that parse them.
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
    jobs.push({ source: spec.id, relPath: target.relPath, read: pass.read });
    cursor = pass.cursor;
    if (pass.atEof) break;
  }
  return jobs;
}

export const SAMPLE_LOGS = path.resolve(import.meta.dirname, '../../../shared/samples/logs');

/** A sample log of each entry format, with its device kind and source. */
export const SAMPLE_SOURCES = [
  { kind: 'em', source: 'em-server', file: 'em/SmartSEM/Log/EM Server.log' },
  { kind: 'lm', source: 'zen', file: 'lm/Logging/ZEN.log.xml' },
  { kind: 'lm', source: 'zen-core', file: 'lm/Logging/ZENCore.log.xml' },
  { kind: 'lm', source: 'remote-service', file: 'lm/Remote Service/remote service.log.xml' },
] as const;
