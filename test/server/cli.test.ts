import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { SUBPROTOCOL, type Item } from '../../src-agent/transport/codec.ts';
import { openStore } from '../../src-server/store.ts';

const BIN = fileURLToPath(new URL('../../bin/scopelink-server.js', import.meta.url));

function start(
  args: string[],
  env: Record<string, string> = {},
  cwd = process.cwd(),
): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, ...env, SCOPELINK_DEVICE_TOKEN: env.SCOPELINK_DEVICE_TOKEN ?? '' },
  });
}

async function cli(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = start(args, env, cwd);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

const item = (seq: number): Item => ({
  seq,
  ts: '2026-11-30T08:00:01.250+01:00',
  source: 'em-server',
  name: 'vacuum.state',
  value: 'ready',
  kind: 'state',
});

describe('scopelink-server CLI', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scopelink-cli-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('adds a device with the token from the environment', async () => {
    const token = 'env-token-0123456789abcdef';
    const added = await cli(['device', 'add', '--data-dir', dir, '--id', 'EM-1'], {
      SCOPELINK_DEVICE_TOKEN: token,
    });

    expect(added).toMatchObject({ code: 0, stdout: `${token}\n` });
    const store = await openStore(dir);
    expect(await store.authenticate(token)).toBe('EM-1');
    await store.close();
  });

  it('adds a device with a generated token', async () => {
    const added = await cli(['device', 'add', '--data-dir', dir, '--id', 'EM-1']);

    expect(added.code).toBe(0);
    const store = await openStore(dir);
    expect(await store.authenticate(added.stdout.trim())).toBe('EM-1');
    await store.close();
  });

  it('prints stored items as JSON lines and stats as a JSON object', async () => {
    const stream = randomUUID();
    const store = await openStore(dir);
    await store.addDevice('EM-1');
    await store.addDevice('LM-2');
    await store.storeItems('EM-1', stream, [item(1), item(2)]);
    await store.storeItems('LM-2', stream, [item(1)]);
    await store.close();

    const items = await cli(['items', '--data-dir', dir, '--device', 'EM-1']);
    const stats = await cli(['stats', '--data-dir', dir]);

    expect(items.code).toBe(0);
    expect(
      items.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual([1, 2].map((seq) => ({ device: 'EM-1', stream, ...item(seq) })));
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({
      devices: [
        { id: 'EM-1', items: 2 },
        { id: 'LM-2', items: 1 },
      ],
    });
  });

  it('runs until SIGTERM, announcing where it listens in one JSON line', async () => {
    const store = await openStore(dir);
    const token = await store.addDevice('EM-1');
    await store.close();
    const child = start(['run', '--data-dir', dir, '--listen', '127.0.0.1:0']);
    const exited = once(child, 'close');
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];

    const announced = JSON.parse(line) as { event: string; url: string; caFile: string };
    expect(Object.keys(announced)).toEqual(['event', 'url', 'caFile']);
    expect(announced.event).toBe('listening');
    expect(announced.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/agent\/v1$/);
    expect(announced.caFile).toBe(path.join(dir, 'tls', 'ca.pem'));

    const ws = new WebSocket(announced.url, SUBPROTOCOL, {
      ca: await readFile(announced.caFile),
      headers: { Authorization: `Bearer ${token}` },
    });
    await once(ws, 'open');
    const closed = once(ws, 'close');
    child.kill('SIGTERM');

    expect((await closed)[0]).toBe(1001);
    expect((await exited)[0]).toBe(0);
    expect(stdout).toBe(`${line}\n`);
  }, 15_000);
});

describe('scopelink-server CLI on bad arguments', () => {
  let cwd: string;

  beforeAll(async () => {
    cwd = await mkdtemp(path.join(tmpdir(), 'scopelink-cli-args-'));
  });

  afterAll(async () => {
    await rm(cwd, { recursive: true, force: true });
  });

  it.concurrent.for([
    { args: [], message: 'no command given' },
    { args: ['serve'], message: 'unknown command "serve"' },
    { args: ['run'], message: '--data-dir is required' },
    { args: ['run', '--data-dir', '.', '--listen', '127.0.0.1'], message: '--listen must be' },
    { args: ['run', '--data-dir', '.', '--listen', '[::1]:70000'], message: '--listen must be' },
    { args: ['run', '--data-dir', '.', '--verbose'], message: "Unknown option '--verbose'" },
    { args: ['device', 'remove', '--data-dir', '.'], message: 'expected "device add"' },
    { args: ['device', 'add', '--data-dir', '.'], message: '--id is required' },
    {
      args: ['device', 'add', '--data-dir', '.', '--id', 'EM-1', '--token', 'has space'],
      message: 'device token must be',
    },
    { args: ['items', '--data-dir', '.', '--limit', 'ten'], message: '--limit must be' },
    { args: ['stats', '--data-dir', 'typo'], message: 'no server database' },
  ])('exits 2 for $args', async ({ args, message }, { expect }) => {
    const result = await cli(args, {}, cwd);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`scopelink-server: ${message}`);
    expect(result.stderr).toContain('usage:');
    expect(result.stdout).toBe('');
  });
});
