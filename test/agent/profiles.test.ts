/* eslint-disable @typescript-eslint/no-explicit-any -- profiles are edited as raw JSON here */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_PROFILES_DIR, loadProfile } from '../../src-agent/profiles/load.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'profiles-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function withEdited(kind: 'em' | 'lm' | 'xrm', edit: (profile: any) => void) {
  const profile = JSON.parse(
    await readFile(path.join(BUILTIN_PROFILES_DIR, `${kind}.json`), 'utf8'),
  );
  edit(profile);
  await writeFile(path.join(dir, `${kind}.json`), JSON.stringify(profile));
  return loadProfile(kind, dir);
}

describe('profiles', () => {
  it('ships a valid profile for every device kind, covering the documented sources', async () => {
    const ids = await Promise.all(
      ['em', 'lm', 'xrm'].map(async (k) => (await loadProfile(k as 'em')).sources.map((s) => s.id)),
    );
    expect(ids).toEqual([
      ['em-server', 'smartsem-logs'],
      ['remote-service', 'zen', 'zen-core'],
      ['xradia-app', 'xray-source'],
    ]);
  });

  it('names the file, source, rule and field of an error', async () => {
    await expect(
      withEdited('em', (p) => {
        p.sources[0].rules[1].match = '([unclosed';
      }),
    ).rejects.toThrow(
      /em\.json: sources\[em-server\]\.rules\[1\]\.match: not a valid regular expression/,
    );
    await expect(
      withEdited('xrm', (p) => {
        p.sources[1].rules[0].labels.kV.kind = 'gauge';
      }),
    ).rejects.toThrow(/xrm\.json: sources\[xray-source\]\.rules\[0\]\.labels\.kV\.kind/);
  });

  it('names every problem of a profile, a line each', async () => {
    const error = await withEdited('em', (p) => {
      p.sources[0].rules[1].match = '([unclosed';
      p.sources[1].rules[0].labels['GIS Reservoir Temperature'].kind = 'gauge';
    }).catch((err: Error) => err);
    expect(String(error).split('\n')).toEqual([
      expect.stringMatching(/em\.json: sources\[em-server\]\.rules\[1\]\.match: /),
      expect.stringMatching(
        /em\.json: sources\[smartsem-logs\]\.rules\[0\]\.labels\.GIS Reservoir Temperature\.kind: /,
      ),
    ]);
  });

  it('refuses unknown keys, so a typo does not silently do nothing', async () => {
    await expect(
      withEdited('lm', (p) => {
        p.sources[0].fiels = ['x'];
      }),
    ).rejects.toThrow(/sources\[remote-service\]/);
  });

  it('refuses a profile of another kind and unreadable JSON', async () => {
    await expect(withEdited('em', (p) => (p.kind = 'lm'))).rejects.toThrow(/kind is "lm"/);
    await writeFile(path.join(dir, 'xrm.json'), '{');
    await expect(loadProfile('xrm', dir)).rejects.toThrow(/xrm\.json/);
  });
});
