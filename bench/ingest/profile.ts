// Reads V8 .cpuprofiles (node --cpu-prof, one per thread) into the functions that took the
// most self time: where each of the agent's threads spends an ingest. Positions are mapped
// back to the sources: the agent's bundle and parse worker through the source maps built
// beside them, TypeScript run through tsx (the server) through the maps Node keeps with a
// coverage report.
import { readdir, readFile } from 'node:fs/promises';
import { SourceMap, type SourceMapPayload } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  name: string;
  /** Source file (relative to the project) and line, where known. */
  where: string;
  selfMs: number;
  share: number;
}

/** The source maps in the reports a process wrote under NODE_V8_COVERAGE, by module URL. */
export async function readSourceMaps(coverageDir: string): Promise<Map<string, SourceMap>> {
  const maps = new Map<string, SourceMap>();
  for (const file of await readdir(coverageDir)) {
    if (!file.endsWith('.json')) continue;
    const report = JSON.parse(await readFile(path.join(coverageDir, file), 'utf8')) as {
      'source-map-cache'?: Record<string, { data: SourceMapPayload | null }>;
    };
    for (const [url, entry] of Object.entries(report['source-map-cache'] ?? {})) {
      if (entry.data) maps.set(url, new SourceMap(entry.data));
    }
  }
  return maps;
}

export interface ThreadProfile {
  /** `main thread`, or `worker thread <n>` (the parse worker). */
  thread: string;
  functions: HotFunction[];
}

/** The top self-time functions of each thread that wrote a profile to `dir`, main first. */
/**
 * The source maps of built modules in `dir` (the agent's bundle and its parse worker), by
 * module URL. Those of the worker are in no coverage report of a short run: it starts only
 * for a backlog.
 */
export async function builtSourceMaps(dir: string): Promise<Map<string, SourceMap>> {
  const maps = new Map<string, SourceMap>();
  for (const file of await readdir(dir)) {
    if (!file.endsWith('.mjs.map')) continue;
    const payload = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as SourceMapPayload;
    maps.set(
      pathToFileURL(path.join(dir, file.slice(0, -'.map'.length))).href,
      new SourceMap(payload),
    );
  }
  return maps;
}

export async function summariseProfiles(
  dir: string,
  maps: ReadonlyMap<string, SourceMap>,
  root: string,
  top: number,
): Promise<ThreadProfile[]> {
  const files = await profilesByThread(dir);
  const threads: ThreadProfile[] = [];
  for (const { file, threadId } of files) {
    threads.push({
      thread: threadId === 0 ? 'main thread' : `worker thread ${threadId}`,
      functions: await summariseProfile(file, maps, root, top),
    });
  }
  return threads;
}

/** The profiles a process wrote to `dir` (one per thread), main thread first. */
export async function profilesByThread(dir: string): Promise<{ file: string; threadId: number }[]> {
  // Node names them CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; the main thread is 0.
  const files = (await readdir(dir))
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ file: path.join(dir, f), threadId: Number(f.split('.')[4]) }))
    .sort((a, b) => a.threadId - b.threadId);
  if (files.length === 0) throw new Error(`no .cpuprofile written to ${dir}`);
  return files;
}

export async function summariseProfile(
  file: string,
  maps: ReadonlyMap<string, SourceMap>,
  root: string,
  top: number,
): Promise<HotFunction[]> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const relative = (url: string) => {
    const file = url.replace(/^file:\/\//, '');
    return file.startsWith(root) ? path.relative(root, file) : file;
  };
  const selfUs = new Map<string, { name: string; where: string; us: number }>();
  // A sample lasts until the next one; the last one until the profile ends.
  let at = profile.startTime;
  const stamps = profile.timeDeltas.map((d) => (at += d));
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = (stamps[i + 1] ?? profile.endTime) - stamps[i]!;
    total += us;
    const frame = frames.get(id);
    if (!frame) return;
    const origin = maps.get(frame.url)?.findEntry(frame.lineNumber, frame.columnNumber);
    const where =
      origin && 'originalSource' in origin
        ? `${relative(origin.originalSource)}:${origin.originalLine + 1}`
        : frame.url && `${relative(frame.url)}:${frame.lineNumber + 1}`;
    const name = frame.functionName || '(anonymous)';
    const key = `${name} ${where}`;
    const entry = selfUs.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    selfUs.set(key, entry);
  });
  return [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: e.us / total }));
}
