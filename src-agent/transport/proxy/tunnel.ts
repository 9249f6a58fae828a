// An HTTP CONNECT tunnel through the lab's proxy, authenticated with the configured
// scheme. TLS to the server then runs end to end inside it: the proxy sees no plaintext.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { digestAuthorization, isSupportedAlgorithm, parseDigestChallenge } from './digest.ts';
import { secureContextFor } from '../tls.ts';
import { ProxyError } from './errors.ts';
import {
  HINT_PROXY,
  HINT_REACH,
  header,
  readResponse,
  type ProxyResponse,
} from './http-response.ts';
import { authenticateMessage, negotiateMessage, parseChallenge, type NtlmError } from './ntlm.ts';

export type ProxyAuth = 'none' | 'basic' | 'digest' | 'ntlm' | 'auto';
export type AuthScheme = 'none' | 'basic' | 'digest' | 'ntlm';

export interface ProxyEndpoint {
  /** `http://host:port` or `https://host:port`. */
  url: URL;
  auth: ProxyAuth;
  username?: string;
  password?: string | null;
  domain?: string;
}

export interface Tunnel {
  socket: Duplex;
  /** The scheme that opened the tunnel. */
  scheme: AuthScheme;
  /** Schemes the proxy offered in its 407, as it named them. */
  offered: string[];
}

export interface TunnelOptions {
  /** Trust anchors for a proxy reached over https://. */
  ca?: string[];
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/** Strongest first, for `auth: "auto"`. */
const PREFERENCE: readonly AuthScheme[] = ['digest', 'ntlm', 'basic'];

const HINT_CREDENTIALS =
  'check the proxy user name, password (and NTLM domain) entered in ScopeLink against the proxy’s user directory';
const HINT_POLICY =
  'ask the proxy administrator to allow CONNECT to the ScopeLink server on port 443';

export async function openTunnel(
  proxy: ProxyEndpoint,
  target: { host: string; port: number },
  options: TunnelOptions = {},
): Promise<Tunnel> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const authority = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  let socket = await connectToProxy(proxy.url, options.ca, timeoutMs);
  let offered: string[] = [];
  let scheme: AuthScheme = proxy.auth === 'basic' || proxy.auth === 'ntlm' ? proxy.auth : 'none';
  const tried = new Set<AuthScheme>();
  let credentials = firstCredentials(proxy, scheme);
  try {
    for (;;) {
      const response = await request(socket, authority, credentials, timeoutMs);
      if (response.status === 200) return { socket, scheme, offered };
      if (response.status !== 407) {
        throw new ProxyError(
          'proxy_refused',
          `the proxy refused the connection to ${authority}: HTTP ${response.status} ${response.reason}`.trim(),
          HINT_POLICY,
        );
      }
      const challenges = header(response, 'proxy-authenticate');
      offered = challenges
        .map((c) => c.split(/\s+/, 1)[0]!)
        .filter((s, i, all) => all.indexOf(s) === i);
      // An NTLM challenge continues the handshake on this connection; anything else is a verdict.
      const ntlmChallenge = scheme === 'ntlm' && !tried.has('ntlm') ? ntlmToken(challenges) : null;
      if (ntlmChallenge) {
        tried.add('ntlm');
        credentials = `NTLM ${authenticateMessage(parseNtlm(ntlmChallenge), ntlmCredentials(proxy))}`;
        continue;
      }
      if (scheme !== 'none' || credentials !== null) tried.add(scheme);
      const next = chooseScheme(proxy, offered, tried);
      if (!next) throw authFailure(proxy, scheme, offered, tried);
      scheme = next;
      if (closesAfter(response) || socket.destroyed) {
        socket.destroy();
        socket = await connectToProxy(proxy.url, options.ca, timeoutMs);
      }
      credentials =
        next === 'basic'
          ? basic(proxy)
          : next === 'ntlm'
            ? `NTLM ${negotiateMessage()}`
            : digest(proxy, challenges, authority);
    }
  } catch (err) {
    socket.destroy();
    if (err instanceof ProxyError) throw err;
    throw new ProxyError(
      'proxy_bad_response',
      `the proxy's answer could not be used: ${(err as Error).message}`,
      HINT_PROXY,
    );
  }
}

function connectToProxy(
  url: URL,
  ca: string[] | undefined,
  timeoutMs: number,
): Promise<net.Socket> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve, reject) => {
    const socket =
      url.protocol === 'https:'
        ? tls.connect({
            host,
            port,
            servername: net.isIP(host) ? undefined : host,
            ...(ca ? { secureContext: secureContextFor(ca) } : {}),
            minVersion: 'TLSv1.2',
          })
        : net.connect({ host, port });
    const ready = url.protocol === 'https:' ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ProxyError(
          'proxy_unreachable',
          `no connection to the proxy ${host}:${port} within ${timeoutMs} ms`,
          HINT_REACH,
        ),
      );
    }, timeoutMs);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new ProxyError(
          'proxy_unreachable',
          `cannot reach the proxy ${host}:${port}: ${err.code ?? err.message}`,
          HINT_REACH,
        ),
      );
    };
    socket.once('error', onError);
  });
}

async function request(
  socket: net.Socket,
  authority: string,
  authorization: string | null,
  timeoutMs: number,
): Promise<ProxyResponse> {
  const lines = [
    `CONNECT ${authority} HTTP/1.1`,
    `Host: ${authority}`,
    'Proxy-Connection: Keep-Alive',
  ];
  if (authorization) lines.push(`Proxy-Authorization: ${authorization}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  // A 407 carries a body that must be read before the next CONNECT on this connection.
  return readResponse(socket, timeoutMs, true);
}

function closesAfter(response: ProxyResponse): boolean {
  return [...header(response, 'connection'), ...header(response, 'proxy-connection')].some((v) =>
    /\bclose\b/i.test(v),
  );
}

function chooseScheme(
  proxy: ProxyEndpoint,
  offered: string[],
  tried: Set<AuthScheme>,
): AuthScheme | null {
  // Credentials rejected once are not tried again with a weaker scheme.
  if (proxy.auth === 'none' || tried.size > 0) return null;
  const available = (s: AuthScheme) => offered.some((o) => o.toLowerCase() === s);
  if (proxy.auth !== 'auto') return available(proxy.auth) ? proxy.auth : null;
  return PREFERENCE.find(available) ?? null;
}

function authFailure(
  proxy: ProxyEndpoint,
  scheme: AuthScheme,
  offered: string[],
  tried: Set<AuthScheme>,
): ProxyError {
  const offers = offered.length > 0 ? offered.join(', ') : 'no scheme';
  if (proxy.auth === 'none') {
    return new ProxyError(
      'proxy_auth_failed',
      `the proxy requires authentication (it offers ${offers}) but none is configured`,
      'enter the proxy user name and password in ScopeLink’s proxy settings',
    );
  }
  if (
    tried.size === 0 ||
    (proxy.auth !== 'auto' && !offered.some((o) => o.toLowerCase() === proxy.auth))
  ) {
    return new ProxyError(
      'proxy_auth_failed',
      `the proxy does not offer ${proxy.auth === 'auto' ? 'a supported scheme' : proxy.auth} (it offers ${offers})`,
      'choose a scheme the proxy offers in ScopeLink’s proxy settings',
    );
  }
  return new ProxyError(
    'proxy_auth_failed',
    `the proxy rejected the ${scheme} credentials of user "${proxy.username ?? ''}"`,
    HINT_CREDENTIALS,
  );
}

function firstCredentials(proxy: ProxyEndpoint, scheme: AuthScheme): string | null {
  if (scheme === 'basic') return basic(proxy);
  if (scheme === 'ntlm') return `NTLM ${negotiateMessage()}`;
  return null;
}

function basic(proxy: ProxyEndpoint): string {
  return `Basic ${Buffer.from(`${proxy.username ?? ''}:${proxy.password ?? ''}`, 'utf8').toString('base64')}`;
}

function digest(proxy: ProxyEndpoint, challenges: string[], authority: string): string {
  const challenge = challenges
    .map(parseDigestChallenge)
    .filter((c) => c !== null && isSupportedAlgorithm(c.algorithm))
    // SHA-256 over MD5 where the proxy offers both.
    .sort(
      (a, b) =>
        Number(b!.algorithm.startsWith('SHA-256')) - Number(a!.algorithm.startsWith('SHA-256')),
    )[0];
  if (!challenge) {
    throw new ProxyError(
      'proxy_auth_failed',
      'the proxy’s Digest challenge uses no supported algorithm',
      HINT_PROXY,
    );
  }
  return digestAuthorization(
    challenge,
    { username: proxy.username ?? '', password: proxy.password ?? '' },
    'CONNECT',
    authority,
  );
}

function ntlmToken(challenges: string[]): string | null {
  for (const c of challenges) {
    const m = /^NTLM\s+(\S+)$/i.exec(c);
    if (m) return m[1]!;
  }
  return null;
}

function parseNtlm(token: string) {
  try {
    return parseChallenge(token);
  } catch (err) {
    throw new ProxyError(
      'proxy_bad_response',
      `the proxy sent a broken NTLM challenge: ${(err as NtlmError).message}`,
      HINT_PROXY,
    );
  }
}

function ntlmCredentials(proxy: ProxyEndpoint) {
  const raw = proxy.username ?? '';
  // DOMAIN\user as Windows writes it, unless a domain is configured separately.
  const slash = raw.indexOf('\\');
  const domain = proxy.domain ?? (slash > 0 ? raw.slice(0, slash) : '');
  const username = slash > 0 && proxy.domain === undefined ? raw.slice(slash + 1) : raw;
  return { username, password: proxy.password ?? '', domain };
}
