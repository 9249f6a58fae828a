// `scopelink-agent diagnose` against the real server: each step reported, and a failure
// named at the step where it happens, with a code and a hint.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_BIN,
  addDevice,
  removeDir,
  startServer,
  stop,
  tempDir,
  writeAgentConfig,
  type TestServer,
} from '../helpers/processes.ts';

const run = promisify(execFile);
let dir: string;
let server: TestServer;
let token: string;

beforeAll(async () => {
  dir = await tempDir('diagnose');
  server = await startServer(path.join(dir, 'server'));
  token = await addDevice(server.dataDir, 'EM-7');
});
afterAll(async () => {
  await stop(server);
  await removeDir(dir);
});

interface Step {
  step: string;
  ok: boolean;
  ms: number;
  detail: string;
  error?: { code: string; hint: string };
}

async function diagnose(config: Record<string, unknown>, env: NodeJS.ProcessEnv) {
  const file = await writeAgentConfig(dir, {
    dataDir: 'data',
    device: { id: 'EM-7', kind: 'em' },
    ...config,
  });
  const result = await run(process.execPath, [AGENT_BIN, 'diagnose', '--config', file, '--json'], {
    env: { ...process.env, ...env },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  );
  return { code: result.code, steps: JSON.parse(result.stdout) as Step[] };
}

describe('scopelink-agent diagnose', () => {
  it('walks every step to the welcome when all is well', async () => {
    const { code, steps } = await diagnose(
      { serverUrl: server.url, caFile: server.caFile },
      { SCOPELINK_DEVICE_TOKEN: token },
    );
    expect(code).toBe(0);
    expect(steps.map((s) => [s.step, s.ok])).toEqual([
      ['name resolution', true],
      ['TCP to server', true],
      ['TLS', true],
      ['WebSocket upgrade', true],
      ['hello/welcome', true],
    ]);
    expect(steps[2]!.detail).toMatch(/TLSv1\.[23]; subject CN=127\.0\.0\.1; issuer CN=ScopeLink/);
    expect(steps.every((s) => Number.isInteger(s.ms) && s.ms >= 0)).toBe(true);
  });

  it('stops at the upgrade with not_authorised for a wrong token', async () => {
    const { code, steps } = await diagnose(
      { serverUrl: server.url, caFile: server.caFile },
      { SCOPELINK_DEVICE_TOKEN: 'not-the-token' },
    );
    expect(code).toBe(1);
    expect(steps.at(-1)).toMatchObject({
      step: 'WebSocket upgrade',
      ok: false,
      error: { code: 'not_authorised' },
    });
  });

  it('stops at TLS with tls_untrusted without the CA, and tls_pin_mismatch with a wrong pin', async () => {
    const untrusted = await diagnose({ serverUrl: server.url }, { SCOPELINK_DEVICE_TOKEN: token });
    expect(untrusted.steps.at(-1)).toMatchObject({
      step: 'TLS',
      ok: false,
      error: { code: 'tls_untrusted' },
    });
    const pinned = await diagnose(
      { serverUrl: server.url, caFile: server.caFile, tls: { pins: ['A'.repeat(43) + '='] } },
      { SCOPELINK_DEVICE_TOKEN: token },
    );
    expect(pinned.steps.at(-1)).toMatchObject({
      step: 'TLS',
      ok: false,
      error: { code: 'tls_pin_mismatch' },
    });
  });

  it('names an unreachable server at the TCP step', async () => {
    const { steps } = await diagnose(
      { serverUrl: 'wss://127.0.0.1:9/agent/v1', caFile: server.caFile },
      { SCOPELINK_DEVICE_TOKEN: token },
    );
    expect(steps.at(-1)).toMatchObject({
      step: 'TCP to server',
      ok: false,
      error: { code: 'server_unreachable' },
    });
    expect(steps.at(-1)!.error!.hint).toMatch(/firewall/);
  });
});
