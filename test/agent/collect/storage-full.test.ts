// A full disk under the agent's data directory: collection waits with a clear status
// error instead of losing log positions, and resumes once space is freed.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector } from '../../../src-agent/collect/collector.ts';
import { resolveSources } from '../../../src-agent/collect/sources.ts';
import { silentLogger } from '../../../src-agent/log.ts';
import { Outbox } from '../../../src-agent/outbox/outbox.ts';
import { loadProfile } from '../../../src-agent/profiles/load.ts';
import { operatingHoursLine } from '../../helpers/em-lines.ts';

let dir: string;
let mount: string;
let mounted = false;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'full-'));
  mount = path.join(dir, 'small-disk');
  await mkdir(mount);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount], { stdio: 'ignore' });
    mounted = true;
  } catch {
    mounted = false;
  }
});

afterAll(async () => {
  if (mounted) execFileSync('umount', [mount]);
  await rm(dir, { recursive: true, force: true });
});

async function fillDisk(file: string): Promise<void> {
  const handle = await open(file, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) await handle.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close();
  }
}

const waitUntil = async (check: () => boolean, what: string) => {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('disk full under the outbox', () => {
  it('pauses collection with storage_full and resumes without loss once space is free', async (ctx) => {
    ctx.skip(!mounted, 'needs root to mount a 1 MiB tmpfs as the full disk');
    const logs = path.join(dir, 'logs');
    await mkdir(logs);
    const outbox = await Outbox.open(path.join(mount, 'outbox.db'));
    const filler = path.join(mount, 'filler');
    await fillDisk(filler);
    const lines = Array.from({ length: 3000 }, (_, i) => operatingHoursLine(i + 1));
    await writeFile(path.join(logs, 'EM Server.log'), lines.join(''));
    const sources = resolveSources(await loadProfile('em'), {
      'em-server': { folder: logs },
      'smartsem-logs': { enabled: false },
    });
    const collector = new Collector(sources, outbox, silentLogger(), {
      pollIntervalMs: 50,
      backfill: { maxAgeDays: 0, maxBytes: 0 },
      settleMs: 0,
    });
    try {
      await collector.start();
      await waitUntil(() => collector.storageError !== null, 'the storage error');
      expect(collector.storageError?.code).toBe('storage_full');
      expect(collector.storageError?.message).toMatch(/disk .* is full/);
      expect(outbox.pending).toBe(0);

      await unlink(filler);
      await waitUntil(() => outbox.pending === 3000 && collector.storageError === null, 'recovery');
      const values = (await outbox.read(0, 10_000))!.frames.map((f) => JSON.parse(f).value);
      expect(values).toEqual(lines.map((_, i) => i + 1));
    } finally {
      await collector.stop();
      await outbox.close();
    }
  });
});
