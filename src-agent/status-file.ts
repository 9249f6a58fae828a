// The running agent publishes its status snapshot as a file in its data directory, so
// `scopelink-agent status` can read it without a port: the agent never listens.
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { StatusSnapshot } from './status.ts';

export const statusFile = (dataDir: string) => path.join(dataDir, 'status.json');

export async function writeStatusFile(dataDir: string, status: StatusSnapshot): Promise<void> {
  const file = statusFile(dataDir);
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(status, null, 2) + '\n', { mode: 0o644 });
  await rename(temp, file);
}

export async function readStatusFile(dataDir: string): Promise<StatusSnapshot | null> {
  try {
    return JSON.parse(await readFile(statusFile(dataDir), 'utf8')) as StatusSnapshot;
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
