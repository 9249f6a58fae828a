// One agent per data directory: two would hand out the same seqs and race on cursors.
import { open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { isAlive } from './status-file.ts';

export class DataDirLockedError extends Error {
  readonly code = 'data_dir_locked';
}

export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const file = path.join(dataDir, 'agent.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => unlink(file).catch(() => undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await readFile(file, 'utf8').catch(() => ''));
      if (holder && holder !== process.pid && isAlive(holder)) {
        throw new DataDirLockedError(`another agent (pid ${holder}) is running on ${dataDir}`);
      }
      // Left behind by an agent that was killed: take it over.
      await unlink(file).catch(() => undefined);
    }
  }
  throw new DataDirLockedError(`cannot lock ${dataDir}`);
}
