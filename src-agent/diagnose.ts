// Connection diagnostics for the IT administrator: every step from name resolution to
// the protocol's welcome, with its duration, what it found, and in case of failure what
// to check. The tray app's "test connection" and `scopelink-agent diagnose` both run it.
import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import WebSocket from 'ws';
import type { AgentConfig } from './config/schema.ts';
import { Outbox } from './outbox/outbox.ts';
import type { SecretSource } from './secrets/secrets.ts';
import {
  PROTOCOL_VERSION,
  SUBPROTOCOL,
  decodeServerFrame,
  encodeFrame,
  type Hello,
} from './transport/codec.ts';
import { ProxyError } from './transport/proxy/errors.ts';
import { resolveRoutes, type Route } from './transport/proxy/routes.ts';
import { openTunnel } from './transport/proxy/tunnel.ts';
import { classifyConnectError, spkiPin, tlsConnectOptions, trustAnchors } from './transport/tls.ts';
import { AGENT_VERSION } from './version.ts';

export interface DiagnosticStep {
  step: string;
  ok: boolean;
  ms: number;
  detail: string;
  error?: { code: string; message: string; hint: string };
}

const STEP_TIMEOUT_MS = 15_000;

const HINTS: Record<string, string> = {
  dns_failed: 'check the host name and the PC’s DNS settings',
  server_unreachable: 'check that the firewall lets this PC reach the server (TCP port 443)',
  connection_reset: 'a firewall or proxy cut the connection: check its rules for the server',
  connection_failed: 'check the network connection of this PC',
  tls_untrusted:
    'the server’s certificate is not trusted: an inspecting proxy needs its CA in caFile, or the server is not the right one',
  tls_hostname: 'the certificate is for another host name: check serverUrl',
  tls_expired:
    'the certificate has expired or is not yet valid: check the PC’s clock, then the server',
  tls_pin_mismatch:
    'the server’s key is not the pinned one: an inspecting proxy may sit in between, or the key was renewed',
  tls_failed:
    'TLS could not be negotiated: the server or a proxy may only offer TLS older than 1.2',
  not_authorised: 'the device token was refused: enter the token issued for this device again',
  handshake_refused: 'the server refused the WebSocket connection: check serverUrl’s path',
  protocol_error: 'the server did not answer as a ScopeLink server: check serverUrl',
  token_missing: 'set the device token (SCOPELINK_DEVICE_TOKEN or the vault)',
};

class StepFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint = HINTS[code] ?? 'see the message',
  ) {
    super(message);
  }
}

export async function diagnose(
  config: AgentConfig,
  secrets: SecretSource,
): Promise<DiagnosticStep[]> {
  const steps: DiagnosticStep[] = [];
  const url = new URL(config.serverUrl);
  const server = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || (url.protocol === 'wss:' ? 443 : 80)),
  };
  const routes = resolveRoutes(config.proxy, await secrets.get('proxy-password'), url);
  const route: Route = routes[0] ?? { kind: 'direct' };
  const ca = await trustAnchors(config.caFile);
  const token = await secrets.get('device-token');
  const sockets: Duplex[] = [];

  const run = async <T>(step: string, work: () => Promise<{ value: T; detail: string }>) => {
    const started = performance.now();
    try {
      const { value, detail } = await withTimeout(work(), step);
      steps.push({ step, ok: true, ms: elapsed(started), detail });
      return value;
    } catch (err) {
      const failure = toFailure(err);
      steps.push({
        step,
        ok: false,
        ms: elapsed(started),
        detail: failure.message,
        error: { code: failure.code, message: failure.message, hint: failure.hint },
      });
      throw failure;
    }
  };

  try {
    const first = route.kind === 'proxy' ? route.endpoint.url : null;
    const dialHost = first ? first.hostname.replace(/^\[|\]$/g, '') : server.host;
    const dialPort = first
      ? Number(first.port || (first.protocol === 'https:' ? 443 : 80))
      : server.port;
    await run('name resolution', async () => {
      const addresses = await lookup(dialHost, { all: true }).catch(
        (err: NodeJS.ErrnoException) => {
          throw new StepFailure(
            'dns_failed',
            `cannot resolve ${dialHost}: ${err.code ?? err.message}`,
          );
        },
      );
      return {
        value: undefined,
        detail: `${dialHost} → ${addresses.map((a) => a.address).join(', ')}`,
      };
    });
    await run(first ? 'TCP to proxy' : 'TCP to server', async () => {
      const socket = await connectTcp(dialHost, dialPort);
      socket.destroy();
      return { value: undefined, detail: `${dialHost}:${dialPort} accepts connections` };
    });
    let tunnel: Duplex | undefined;
    if (route.kind === 'proxy') {
      tunnel = await run('proxy authentication', async () => {
        const opened = await openTunnel(route.endpoint, server, { ca });
        sockets.push(opened.socket);
        const user = route.endpoint.username ? ` as "${route.endpoint.username}"` : '';
        // Basic credentials go with the first CONNECT: an accepting proxy never challenges.
        const offered =
          opened.offered.length > 0
            ? opened.offered.join(', ')
            : opened.scheme === 'none'
              ? 'none (no authentication asked)'
              : 'no challenge (credentials sent with the first CONNECT and accepted)';
        return {
          value: opened.socket,
          detail: `offered: ${offered}; used: ${opened.scheme}${user}; CONNECT ${server.host}:${server.port} open`,
        };
      });
    }
    const secure = url.protocol === 'wss:';
    const policy = { ca, pins: config.tls?.pins ?? [] };
    const channel: Duplex = secure
      ? await run('TLS', async () => {
          const socket = await connectTls(policy, server, tunnel);
          sockets.push(socket);
          const cert = socket.getPeerCertificate();
          return {
            value: socket,
            detail:
              `${socket.getProtocol()}; subject ${name(cert.subject)}; issuer ${name(cert.issuer)}; ` +
              `valid until ${new Date(cert.valid_to).toISOString().slice(0, 10)}; key sha256/${spkiPin(cert)}` +
              (policy.pins.length > 0 ? ' (pinned)' : ''),
          };
        })
      : (tunnel ?? (await connectTcp(server.host, server.port)));
    if (!secure) sockets.push(channel);
    const ws = await run('WebSocket upgrade', async () => {
      if (!token) throw new StepFailure('token_missing', 'no device token is configured');
      const socket = await upgrade(config.serverUrl, token, channel);
      return {
        value: socket,
        detail: `${socket.protocol}${socket.extensions ? `, ${socket.extensions}` : ''} at ${url.pathname}`,
      };
    });
    await run('hello/welcome', async () => {
      const welcome = await helloWelcome(ws, config);
      ws.close(1000, 'diagnostics done');
      return {
        value: undefined,
        detail: `session ${welcome.session}; server has stored up to seq ${welcome.ackedSeq}; heartbeat ${welcome.heartbeatSec} s`,
      };
    });
  } catch {
    // The failed step is recorded; the ones after it cannot run.
  } finally {
    for (const socket of sockets) socket.destroy();
  }
  return steps;
}

function connectTcp(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const { code } = classifyConnectError(err);
      reject(
        new StepFailure(code, `cannot connect to ${host}:${port}: ${err.code ?? err.message}`),
      );
    });
  });
}

function connectTls(
  policy: { ca: string[]; pins: string[] },
  server: { host: string; port: number },
  tunnel: Duplex | undefined,
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const options = tlsConnectOptions(policy, server.host);
    const socket = tunnel
      ? tls.connect({ ...options, socket: tunnel })
      : tls.connect({ ...options, host: server.host, port: server.port });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const { code } = classifyConnectError(err);
      reject(new StepFailure(code, `TLS with ${server.host} failed: ${err.message}`));
    });
  });
}

function upgrade(serverUrl: string, token: string, channel: Duplex): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(serverUrl, SUBPROTOCOL, {
      headers: {
        Authorization: `Bearer ${token}`,
        'User-Agent': `ScopeLink-Agent/${AGENT_VERSION}`,
      },
      perMessageDeflate: true,
      // The connection (and its TLS) was set up and checked by the steps before.
      createConnection: () => channel,
    } as unknown as WebSocket.ClientOptions);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      reject(
        status === 401 || status === 403
          ? new StepFailure(
              'not_authorised',
              `the server refused the device token (HTTP ${status})`,
            )
          : new StepFailure(
              'handshake_refused',
              `the server answered HTTP ${status} instead of upgrading`,
            ),
      );
    });
    ws.once('error', (err) => reject(new StepFailure('handshake_refused', err.message)));
  });
}

async function helloWelcome(ws: WebSocket, config: AgentConfig) {
  const db = path.join(config.dataDir, 'outbox.db');
  const outbox = await Outbox.peek(db).catch(() => ({ stream: null, pending: 0, oldestTs: null }));
  const hello: Hello = {
    type: 'hello',
    protocol: PROTOCOL_VERSION,
    agent: { name: 'scopelink-agent', version: AGENT_VERSION },
    device: { id: config.device.id, kind: config.device.kind, model: config.device.model },
    outbox: {
      stream: outbox.stream ?? randomUUID(),
      pending: outbox.pending,
      oldestTs: outbox.oldestTs,
    },
  };
  return new Promise<{ session: string; ackedSeq: number; heartbeatSec: number }>(
    (resolve, reject) => {
      ws.on('message', (data) => {
        try {
          const frame = decodeServerFrame(data.toString());
          if (frame?.type === 'welcome') resolve(frame);
        } catch (err) {
          reject(new StepFailure('protocol_error', (err as Error).message));
        }
      });
      ws.once('close', (code, reason) =>
        reject(
          code === 4003
            ? new StepFailure('not_authorised', `the server closed with 4003: ${reason.toString()}`)
            : new StepFailure(
                'protocol_error',
                `the server closed with ${code} ${reason.toString()}`.trim(),
              ),
        ),
      );
      ws.send(encodeFrame(hello));
    },
  );
}

function withTimeout<T>(work: Promise<T>, step: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StepFailure(
            'timeout',
            `${step} did not finish within ${STEP_TIMEOUT_MS / 1000} s`,
            'a firewall may be dropping packets silently',
          ),
        ),
      STEP_TIMEOUT_MS,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function toFailure(err: unknown): StepFailure {
  if (err instanceof StepFailure) return err;
  if (err instanceof ProxyError) return new StepFailure(err.code, err.message, err.hint);
  const { code } = classifyConnectError(err as NodeJS.ErrnoException);
  return new StepFailure(code, (err as Error).message);
}

const elapsed = (started: number) => Math.round(performance.now() - started);

function name(entity: tls.Certificate | undefined): string {
  if (!entity) return '?';
  return entity.CN
    ? `CN=${entity.CN}`
    : Object.entries(entity)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ');
}

/** The steps as an IT administrator reads them on a console. */
export function formatDiagnostics(steps: DiagnosticStep[]): string {
  const width = Math.max(...steps.map((s) => s.step.length), 10);
  const lines = steps.map((s) => {
    const mark = s.ok ? 'ok  ' : 'FAIL';
    const line = `${mark} ${s.step.padEnd(width)} ${String(s.ms).padStart(5)} ms  ${s.detail}`;
    return s.error
      ? `${line}\n     ${' '.repeat(width)}           code ${s.error.code}: ${s.error.hint}`
      : line;
  });
  const failed = steps.find((s) => !s.ok);
  lines.push(
    failed
      ? `\nThe connection fails at "${failed.step}".`
      : '\nEvery step succeeded: the agent can reach the server.',
  );
  return lines.join('\n');
}
