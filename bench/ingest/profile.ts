// Reads a V8 .cpuprofile (node --cpu-prof) into the functions that took the most self
// time: where the agent's main thread spends an ingest.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  name: string;
  /** File (relative to the project) and 1-based line. */
  where: string;
  selfMs: number;
  share: number;
}

export async function summariseProfile(
  dir: string,
  root: string,
  top: number,
): Promise<HotFunction[]> {
  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written to ${dir}`);
  const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const selfUs = new Map<string, { name: string; where: string; us: number }>();
  // A sample lasts until the next one; the last one until the profile ends.
  let at = profile.startTime;
  const stamps = profile.timeDeltas.map((d) => (at += d));
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = (stamps[i + 1] ?? profile.endTime) - stamps[i]!;
    const frame = frames.get(id);
    if (!frame) return;
    const url = frame.url.replace(/^file:\/\//, '');
    const where = url
      ? `${url.startsWith(root) ? path.relative(root, url) : url}:${frame.lineNumber + 1}`
      : '';
    const name = frame.functionName || '(anonymous)';
    const key = `${name} ${where}`;
    const entry = selfUs.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    selfUs.set(key, entry);
    total += us;
  });
  return [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: e.us / total }));
}
