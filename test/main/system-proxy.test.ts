import { describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src-agent/config/load.ts';
import { withSystemProxy } from '../../src-main/system-proxy.ts';

const base = {
  serverUrl: 'wss://service.example.com/agent/v1',
  dataDir: '/d',
  device: { id: 'EM-1', kind: 'em' },
};

describe('withSystemProxy', () => {
  it('hands the system answer for the server URL to the engine as a PAC answer', async () => {
    const resolveProxy = vi.fn(async () => 'PROXY proxy.lab:8080; DIRECT');
    const config = parseConfig(
      { ...base, proxy: { system: true, auth: 'ntlm', username: 'svc' } },
      '/',
    );
    const resolved = await withSystemProxy(config, { resolveProxy });
    expect(resolveProxy).toHaveBeenCalledWith('https://service.example.com/agent/v1');
    expect(resolved.proxy).toEqual({
      pac: 'PROXY proxy.lab:8080; DIRECT',
      auth: 'ntlm',
      username: 'svc',
    });
  });

  it('leaves other settings alone', async () => {
    const resolveProxy = vi.fn();
    const config = parseConfig({ ...base, proxy: { url: 'http://p:3128' } }, '/');
    expect(await withSystemProxy(config, { resolveProxy })).toBe(config);
    expect(resolveProxy).not.toHaveBeenCalled();
  });
});
