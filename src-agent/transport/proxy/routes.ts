// Which way out: the configured proxy, the system's answer (PAC / WPAD, as the tray
// app gets it from Electron's session.resolveProxy), HTTPS_PROXY for headless runs, or
// direct. Several routes are tried in order, as a browser would.
import type { ProxyEndpoint, ProxyAuth } from './tunnel.ts';

export type Route = { kind: 'direct' } | { kind: 'proxy'; endpoint: ProxyEndpoint };

export interface ProxyConfig {
  url?: string;
  /** A PAC answer such as `PROXY proxy1:8080; PROXY proxy2:8080; DIRECT`. */
  pac?: string;
  /** The system's settings; where no host resolved them into `pac`, the environment's. */
  system?: true;
  auth: ProxyAuth;
  username?: string;
  domain?: string;
}

/** PAC answers in order; SOCKS entries are skipped, since only HTTP proxies can CONNECT here. */
export function parsePac(answer: string): Array<{ kind: 'direct' } | { kind: 'proxy'; url: URL }> {
  const routes: Array<{ kind: 'direct' } | { kind: 'proxy'; url: URL }> = [];
  for (const part of answer.split(';')) {
    const [type = '', hostPort] = part.trim().split(/\s+/);
    const keyword = type.toUpperCase();
    if (keyword === 'DIRECT') routes.push({ kind: 'direct' });
    else if ((keyword === 'PROXY' || keyword === 'HTTP' || keyword === 'HTTPS') && hostPort) {
      const url = new URL(`${keyword === 'HTTPS' ? 'https' : 'http'}://${hostPort}`);
      routes.push({ kind: 'proxy', url });
    }
  }
  return routes;
}

export function resolveRoutes(
  config: ProxyConfig | undefined,
  password: string | null,
  serverUrl: URL,
  env: NodeJS.ProcessEnv = process.env,
): Route[] {
  const endpoint = (url: URL, auth: ProxyAuth): Route => ({
    kind: 'proxy',
    endpoint: { url, auth, username: config?.username, password, domain: config?.domain },
  });
  if (config?.url) return [endpoint(new URL(config.url), config.auth)];
  if (config?.pac !== undefined) {
    const routes = parsePac(config.pac).map((r) =>
      r.kind === 'direct' ? r : endpoint(r.url, config.auth),
    );
    return routes.length > 0 ? routes : [{ kind: 'direct' }];
  }
  const fromEnv = env.HTTPS_PROXY ?? env.https_proxy;
  if (!fromEnv || bypassed(serverUrl.hostname, env.NO_PROXY ?? env.no_proxy ?? ''))
    return [{ kind: 'direct' }];
  const url = new URL(fromEnv.includes('://') ? fromEnv : `http://${fromEnv}`);
  // user:password@ in HTTPS_PROXY means Basic, as curl reads it.
  const username = decodeURIComponent(url.username);
  const envPassword = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  return [
    {
      kind: 'proxy',
      endpoint: username
        ? { url, auth: 'basic', username, password: envPassword }
        : { url, auth: 'none' },
    },
  ];
}

/** NO_PROXY: comma-separated host names, `.domain` suffixes, or `*`. */
function bypassed(host: string, noProxy: string): boolean {
  return noProxy
    .split(',')
    .map((s) => s.trim().toLowerCase().replace(/:\d+$/, ''))
    .filter(Boolean)
    .some(
      (entry) =>
        entry === '*' ||
        host === entry.replace(/^\./, '') ||
        host.endsWith(entry.startsWith('.') ? entry : `.${entry}`),
    );
}
