import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareVersions, resolveFolder } from '../../../src-agent/collect/folders.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'folders-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('resolveFolder', () => {
  it('takes a folder without placeholder as it is', async () => {
    expect(await resolveFolder('/x/y')).toEqual({ folder: '/x/y', base: '/x/y' });
  });

  it('follows the newest numeric version folder, ignoring others', async () => {
    for (const v of ['9.9.1', '16.0.6361.34485', '16.0.10', 'Backup'])
      await mkdir(path.join(dir, v, 'logs'), { recursive: true });
    await writeFile(path.join(dir, '99.0'), 'a file, not a folder');
    const resolved = await resolveFolder(path.join(dir, '<version>', 'logs'));
    expect(resolved).toEqual({ folder: path.join(dir, '16.0.6361.34485', 'logs'), base: dir });
    await mkdir(path.join(dir, '16.1.0.0', 'logs'), { recursive: true });
    expect((await resolveFolder(path.join(dir, '<version>', 'logs'))).folder).toBe(
      path.join(dir, '16.1.0.0', 'logs'),
    );
  });

  it('stays with the version that writes logs until a newer one has its log folder', async () => {
    await mkdir(path.join(dir, '11.1', 'logs'), { recursive: true });
    // Installed, not yet run: no log folder of its own.
    await mkdir(path.join(dir, '12.0'));
    const template = path.join(dir, '<version>', 'logs');
    expect((await resolveFolder(template)).folder).toBe(path.join(dir, '11.1', 'logs'));
    await mkdir(path.join(dir, '12.0', 'logs'));
    expect((await resolveFolder(template)).folder).toBe(path.join(dir, '12.0', 'logs'));
  });

  it('names the newest version folder when none has its log folder', async () => {
    for (const v of ['11.1', '12.0']) await mkdir(path.join(dir, v));
    expect((await resolveFolder(path.join(dir, '<version>', 'logs'))).folder).toBe(
      path.join(dir, '12.0', 'logs'),
    );
  });

  it('says so when there is no version folder', async () => {
    await expect(resolveFolder(path.join(dir, '<version>', 'logs'))).rejects.toThrow(
      /no version folder/,
    );
    await expect(resolveFolder(path.join(dir, 'missing', '<version>'))).rejects.toThrow(
      /cannot read/,
    );
  });
});

describe('compareVersions', () => {
  it('compares numerically, part by part', () => {
    expect(['16.0.10', '9.9', '16.0.9', '16'].sort(compareVersions)).toEqual([
      '9.9',
      '16',
      '16.0.9',
      '16.0.10',
    ]);
  });
});
