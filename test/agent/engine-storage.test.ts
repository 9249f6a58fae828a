// A damaged outbox database: the agent keeps running, says what is wrong and what to do,
// and starts collecting once the file has been moved aside.
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src-agent/config/load.ts';
import { Engine } from '../../src-agent/engine.ts';
import { EnvSecrets } from '../../src-agent/secrets/secrets.ts';

let dir: string;
let engine: Engine | null = null;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'engine-'));
});
afterEach(async () => {
  await engine?.stop();
  engine = null;
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
});

describe('Engine with a damaged outbox', () => {
  it('reports storage_corrupt and recovers when the file is moved aside', async () => {
    const config = parseConfig(
      {
        serverUrl: 'wss://127.0.0.1:9/agent/v1',
        dataDir: 'data',
        device: { id: 'EM-1', kind: 'em' },
        sources: { 'em-server': { folder: 'logs' }, 'smartsem-logs': { enabled: false } },
      },
      dir,
    );
    await mkdir(path.join(dir, 'data'));
    await writeFile(path.join(dir, 'data', 'outbox.db'), Buffer.alloc(8192, 0x5a));
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    engine = new Engine(config, { secrets: new EnvSecrets({}) });
    await engine.start();
    const broken = engine.status();
    expect(broken.storage.ok).toBe(false);
    expect(broken.storage.lastError?.code).toBe('storage_corrupt');
    expect(broken.storage.lastError?.message).toMatch(/move it aside/);

    await rename(path.join(dir, 'data', 'outbox.db'), path.join(dir, 'data', 'outbox.db.damaged'));
    await vi.advanceTimersByTimeAsync(10_000);
    vi.useRealTimers();
    await vi.waitFor(() => expect(engine!.status().storage.ok).toBe(true), { timeout: 5000 });
    expect(engine.status().outbox.stream).toMatch(/^[0-9a-f-]{36}$/);
  });
});
