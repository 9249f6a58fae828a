import { describe, expect, it } from 'vitest';
import { parsePac, resolveRoutes } from '../../../src-agent/transport/proxy/routes.ts';

const server = new URL('wss://service.example.com/agent/v1');
const summary = (routes: ReturnType<typeof resolveRoutes>) =>
  routes.map((r) => (r.kind === 'direct' ? 'DIRECT' : `${r.endpoint.url.href} ${r.endpoint.auth}`));

describe('parsePac', () => {
  it('keeps the order and the fallbacks, skipping SOCKS', () => {
    expect(
      parsePac('PROXY p1:8080; SOCKS5 s:1080; HTTPS p2:443;DIRECT').map((r) =>
        r.kind === 'direct' ? 'DIRECT' : r.url.href,
      ),
    ).toEqual(['http://p1:8080/', 'https://p2/', 'DIRECT']);
  });
});

describe('resolveRoutes', () => {
  it('uses the configured proxy with its auth and the password from the secrets', () => {
    const routes = resolveRoutes(
      { url: 'http://proxy:3128', auth: 'ntlm', username: 'u', domain: 'LAB' },
      'pw',
      server,
      {},
    );
    expect(routes).toEqual([
      {
        kind: 'proxy',
        endpoint: {
          url: new URL('http://proxy:3128'),
          auth: 'ntlm',
          username: 'u',
          password: 'pw',
          domain: 'LAB',
        },
      },
    ]);
  });

  it('follows a system (PAC) answer, direct included', () => {
    expect(
      summary(resolveRoutes({ pac: 'PROXY a:1; DIRECT', auth: 'auto' }, null, server, {})),
    ).toEqual(['http://a:1/ auto', 'DIRECT']);
    expect(summary(resolveRoutes({ pac: '', auth: 'none' }, null, server, {}))).toEqual(['DIRECT']);
  });

  it('reads HTTPS_PROXY with Basic credentials and honours NO_PROXY', () => {
    const routes = resolveRoutes(undefined, null, server, {
      HTTPS_PROXY: 'http://us%40er:p%3Aw@proxy:8080',
    });
    expect(routes).toEqual([
      {
        kind: 'proxy',
        endpoint: {
          url: new URL('http://proxy:8080'),
          auth: 'basic',
          username: 'us@er',
          password: 'p:w',
        },
      },
    ]);
    expect(
      summary(
        resolveRoutes(undefined, null, server, {
          HTTPS_PROXY: 'proxy:8080',
          NO_PROXY: '.example.com',
        }),
      ),
    ).toEqual(['DIRECT']);
    expect(
      summary(
        resolveRoutes(undefined, null, server, {
          https_proxy: 'proxy:8080',
          no_proxy: 'other.org',
        }),
      ),
    ).toEqual(['http://proxy:8080/ none']);
    expect(summary(resolveRoutes(undefined, null, server, {}))).toEqual(['DIRECT']);
  });
});
