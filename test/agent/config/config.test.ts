import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../../src-agent/config/load.ts';
import { resolveSources, fileMatcher } from '../../../src-agent/collect/sources.ts';
import { loadProfile } from '../../../src-agent/profiles/load.ts';

const valid = {
  serverUrl: 'wss://127.0.0.1:8443/agent/v1',
  dataDir: 'data',
  device: { id: 'EM-4711', kind: 'em' },
  sources: { 'em-server': { folder: 'logs' } },
};

const errorOf = (raw: unknown) => {
  try {
    parseConfig(raw, '/base');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('resolves relative paths from the config folder and fills defaults', () => {
    const config = parseConfig(valid, '/base');
    expect(config.dataDir).toBe(path.resolve('/base/data'));
    expect(config.sources['em-server']!.folder).toBe(path.resolve('/base/logs'));
    expect(config.collect.pollIntervalSec).toBe(2);
    expect(config.collect.parseThreads).toBe(2);
    expect(parseConfig({ ...valid, collect: {} }, '/base').collect.parseThreads).toBe(2);
    expect(errorOf({ ...valid, collect: { parseThreads: -1 } })).toMatch(
      /^collect\.parseThreads: /,
    );
  });

  it('names the key of a wrong value', () => {
    expect(errorOf({ ...valid, device: { id: 'EM-4711', kind: 'sem' } })).toMatch(
      /^device\.kind: /,
    );
    expect(errorOf({ ...valid, serverUrl: 'https://x/agent' })).toMatch(/^serverUrl: /);
  });

  it('names unknown keys, nested ones too', () => {
    expect(errorOf({ ...valid, sevrerUrl: 'x' })).toContain('sevrerUrl: unknown key');
    expect(errorOf({ ...valid, device: { ...valid.device, colour: 'red' } })).toContain(
      'device.colour: unknown key',
    );
  });

  it('checks the proxy settings', () => {
    const proxy = (p: object) => errorOf({ ...valid, proxy: p });
    expect(proxy({ url: 'http://p:3128', auth: 'basic' })).toMatch(/^proxy\.username: /);
    expect(proxy({ url: 'http://p:3128', pac: 'DIRECT' })).toMatch(
      /exactly one of "url", "pac" and "system"/,
    );
    expect(proxy({ url: 'socks5://p:1080' })).toMatch(/^proxy\.url: /);
    expect(proxy({ url: 'http://p:3128', auth: 'kerberos' })).toMatch(/^proxy\.auth: /);
    expect(proxy({ url: 'http://p:3128', password: 'x' })).toContain('proxy.password: unknown key');
    const ok = parseConfig(
      { ...valid, proxy: { url: 'http://p:3128', auth: 'ntlm', username: 'u', domain: 'LAB' } },
      '/b',
    );
    expect(ok.proxy).toEqual({ url: 'http://p:3128', auth: 'ntlm', username: 'u', domain: 'LAB' });
  });

  it('checks public key pins', () => {
    expect(errorOf({ ...valid, tls: { pins: ['abc'] } })).toMatch(/^tls\.pins\.0: /);
  });

  it('names a missing key', () => {
    const { dataDir: _, ...noDataDir } = valid;
    expect(errorOf(noDataDir)).toMatch(/^dataDir: /);
  });

  it('refuses source ids the profile does not have', async () => {
    const profile = await loadProfile('em');
    expect(() => resolveSources(profile, { 'em-servr': {} })).toThrow(
      /sources\.em-servr: no such source/,
    );
    const resolved = resolveSources(profile, {
      'smartsem-logs': { enabled: false },
      'em-server': { folder: '/x' },
    });
    expect(resolved.map((s) => [s.id, s.folder])).toEqual([['em-server', '/x']]);
  });
});

describe('fileMatcher', () => {
  it('matches wildcards case-insensitively and honours excludes', () => {
    const match = fileMatcher({ files: ['*.log'], exclude: ['EM Server.log'] });
    expect(match('GIS.log')).toBe(true);
    expect(match('fib.LOG')).toBe(true);
    expect(match('em server.log')).toBe(false);
    expect(match('EM Server.log.1')).toBe(false);
  });
});
