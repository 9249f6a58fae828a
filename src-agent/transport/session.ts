// The agent's side of protocol v1: dial out, hello/welcome, a window of items frames,
// cumulative acks, heartbeats, and reconnecting by the rules of protocol.md.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import WebSocket from 'ws';
import type { Logger } from '../log.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { CodedError, ConnectionState } from '../status.ts';
import {
  CloseCode,
  DEFAULT_MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  SUBPROTOCOL,
  decodeServerFrame,
  encodeFrame,
  type Hello,
  type RequestFrame,
  type ResponseFrame,
  type ServerFrame,
} from './codec.ts';
import { Backoff } from './backoff.ts';
import { classifyConnectError, tlsConnectOptions } from './tls.ts';
import { openTunnel } from './proxy/tunnel.ts';
import type { Route } from './proxy/routes.ts';

export interface SessionOptions {
  url: string;
  token: string | null;
  device: Hello['device'];
  agentVersion: string;
  /** Trust anchors (OS store plus the configured CA file). */
  ca: string[];
  /** Base64 SHA-256 pins of the server's public key; empty for none. */
  pins?: string[];
  /** Ways out, tried in order; direct when not given. */
  routes?: Route[];
  outbox: Outbox;
  log: Logger;
  handleRequest: (request: RequestFrame) => Promise<Omit<ResponseFrame, 'type' | 'id'>>;
  /** Unacknowledged items frames allowed on the wire at once. */
  window?: number;
  random?: () => number;
  /** Backoff of transient failures; protocol v1's 1 s doubling to 5 minutes unless given. */
  retry?: { baseMs: number; capMs: number };
}

export interface SessionCounters {
  sent: number;
  acked: number;
  lastAckAt: string | null;
}

type SessionEvents = {
  state: [state: ConnectionState, error: CodedError | null];
};

const UNAUTHORISED_RETRY_MS = 10 * 60_000;
/** Bytes the socket may hold unsent before the window waits for the network to catch up. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const HANDSHAKE_TIMEOUT_MS = 15_000;

export class Session extends EventEmitter<SessionEvents> {
  state: ConnectionState = 'stopped';
  /** How the current or last connection reached the server. */
  via: string | null = null;
  lastError: CodedError | null = null;
  sessionId: string | null = null;
  readonly counters: SessionCounters = { sent: 0, acked: 0, lastAckAt: null };

  private ws: WebSocket | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly backoff: Backoff;
  /** Numbers connection attempts, so a slow dial that lost the race is dropped. */
  private attempts = 0;
  private stopping = false;
  /** Highest seq sent on this connection; the next frame starts after it. */
  private cursor = 0;
  /** Last seq of each items frame awaiting its ack, in send order. */
  private inFlight: number[] = [];
  private pumping = false;
  private pumpAgain = false;
  /** Why the agent itself dropped the current link, if it did: reported instead of the close. */
  private dropReason: CodedError | null = null;
  private maxBatchItems = 500;
  private readonly window: number;
  private readonly pumpSoon = () =>
    void this.pump().catch((err: Error) =>
      this.options.log.error(`sending failed: ${err.message}`),
    );

  constructor(private readonly options: SessionOptions) {
    super();
    this.window = options.window ?? 8;
    this.backoff = new Backoff(
      options.retry?.baseMs ?? 1000,
      options.retry?.capMs ?? 5 * 60_000,
      options.random,
    );
  }

  start(): void {
    this.stopping = false;
    this.options.outbox.on('appended', this.pumpSoon);
    this.connect();
  }

  /** Lets frames already on the wire be acknowledged for at most `graceMs`, then closes. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    this.options.outbox.off('appended', this.pumpSoon);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN && this.inFlight.length > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        const check = setInterval(() => {
          if (this.inFlight.length === 0 || ws.readyState !== WebSocket.OPEN) {
            clearTimeout(timer);
            clearInterval(check);
            resolve();
          }
        }, 20);
        timer.unref();
      });
    }
    this.stopHeartbeat();
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(CloseCode.goingAway, 'agent stopping');
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1000).unref();
      });
    }
    this.ws = null;
    this.setState('stopped', this.lastError);
  }

  private connect(): void {
    if (this.stopping) return;
    if (!this.options.token) {
      this.setState('unauthorised', {
        code: 'token_missing',
        message: 'no device token is configured (SCOPELINK_DEVICE_TOKEN or the vault)',
      });
      return;
    }
    this.setState('connecting', this.lastError);
    this.dropReason = null;
    const attempt = ++this.attempts;
    this.dial().then(
      (tunnel) => {
        if (this.stopping || attempt !== this.attempts) {
          tunnel?.destroy();
          return;
        }
        this.open(tunnel);
      },
      (err: Error & { code?: string }) => {
        if (this.stopping || attempt !== this.attempts) return;
        const error = { code: err.code ?? 'connection_failed', message: err.message };
        this.options.log.warn({ code: error.code }, `connection failed: ${err.message}`);
        this.retry('offline', this.backoff.next(), error);
      },
    );
  }

  /** A tunnel through the first proxy route that opens one, or null to connect directly. */
  private async dial(): Promise<Duplex | null> {
    const url = new URL(this.options.url);
    const target = {
      host: hostOf(url),
      port: Number(url.port || (url.protocol === 'wss:' ? 443 : 80)),
    };
    let failure: Error | null = null;
    for (const route of this.options.routes ?? [{ kind: 'direct' }]) {
      if (route.kind === 'direct') {
        this.via = 'direct';
        return null;
      }
      try {
        const tunnel = await openTunnel(route.endpoint, target, { ca: this.options.ca });
        this.via = `proxy ${route.endpoint.url.host} (${tunnel.scheme})`;
        return tunnel.socket;
      } catch (err) {
        failure = err as Error;
        this.options.log.warn(`proxy ${route.endpoint.url.host}: ${failure.message}`);
      }
    }
    throw failure ?? new Error('no route to the server');
  }

  private open(tunnel: Duplex | null): void {
    const url = new URL(this.options.url);
    const secure = url.protocol === 'wss:';
    const tlsOptions = tlsConnectOptions(
      { ca: this.options.ca, pins: this.options.pins ?? [] },
      hostOf(url),
    );
    const ws = new WebSocket(this.options.url, SUBPROTOCOL, {
      headers: {
        Authorization: `Bearer ${this.options.token}`,
        'User-Agent': `ScopeLink-Agent/${this.options.agentVersion}`,
      },
      ...tlsOptions,
      perMessageDeflate: true,
      // Room above the protocol's limit, so an oversized frame is closed with the protocol's
      // own code (4000, in onMessage) rather than ws's 1009.
      maxPayload: 4 * DEFAULT_MAX_FRAME_BYTES,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      // Through a proxy, TLS runs end to end inside the CONNECT tunnel.
      ...(tunnel && {
        createConnection: () => (secure ? tls.connect({ ...tlsOptions, socket: tunnel }) : tunnel),
      }),
    } as WebSocket.ClientOptions);
    this.ws = ws;
    let refusal: { status: number } | null = null;

    ws.on('unexpected-response', (_req, res) => {
      refusal = { status: res.statusCode ?? 0 };
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (refusal) return;
      const { code, tls } = classifyConnectError(err);
      this.lastError = { code, message: err.message };
      this.options.log.warn({ code }, `connection failed: ${err.message}`);
      if (tls) this.setState('error', this.lastError);
    });
    ws.on('open', () => void this.sendHello(ws));
    ws.on('message', (data, isBinary) => this.onMessage(ws, data.toString(), isBinary));
    ws.on('pong', () => {
      this.lastPong = Date.now();
    });
    ws.on('close', (code, reason) => {
      this.stopHeartbeat();
      this.inFlight = [];
      this.sessionId = null;
      if (this.ws === ws) this.ws = null;
      if (this.stopping) return;
      this.afterClose(code, reason.toString(), refusal);
    });
  }

  private afterClose(code: number, reason: string, refusal: { status: number } | null): void {
    if (refusal && (refusal.status === 401 || refusal.status === 403)) {
      this.retry('unauthorised', UNAUTHORISED_RETRY_MS, {
        code: 'not_authorised',
        message: `the server refused the device token (HTTP ${refusal.status})`,
      });
    } else if (code === CloseCode.tokenRevoked) {
      this.retry('unauthorised', UNAUTHORISED_RETRY_MS, {
        code: 'token_revoked',
        message: reason || 'the server revoked the device token',
      });
    } else if (code === CloseCode.sessionExpired) {
      this.retry('connecting', Math.round((this.options.random ?? Math.random)() * 1000), null);
    } else {
      const error =
        this.dropReason ??
        (refusal !== null
          ? { code: 'handshake_refused', message: `the server answered HTTP ${refusal.status}` }
          : code === CloseCode.protocolError
            ? { code: 'protocol_error', message: reason || 'protocol error' }
            : this.state === 'connected'
              ? {
                  code: 'connection_lost',
                  message: `connection closed (${code}${reason ? `: ${reason}` : ''})`,
                }
              : (this.lastError ?? { code: 'connection_failed', message: `closed with ${code}` }));
      const next = this.state === 'error' ? 'error' : 'offline';
      this.retry(next, this.backoff.next(), error);
    }
  }

  private retry(state: ConnectionState, delayMs: number, error: CodedError | null): void {
    this.lastError = error;
    this.setState(state, error);
    this.options.log.info(
      { delayMs, code: error?.code },
      `reconnecting in ${Math.round(delayMs / 1000)} s`,
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delayMs);
  }

  private async sendHello(ws: WebSocket): Promise<void> {
    const { outbox } = this.options;
    const hello: Hello = {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      agent: { name: 'scopelink-agent', version: this.options.agentVersion },
      device: this.options.device,
      outbox: { stream: outbox.stream, pending: outbox.pending, oldestTs: await outbox.oldestTs() },
    };
    if (ws.readyState === WebSocket.OPEN) ws.send(encodeFrame(hello));
  }

  private onMessage(ws: WebSocket, text: string, isBinary: boolean): void {
    let frame: ServerFrame | null;
    try {
      if (isBinary) throw new ProtocolError('binary frames are not part of protocol v1');
      if (Buffer.byteLength(text) > DEFAULT_MAX_FRAME_BYTES) {
        throw new ProtocolError(`frame larger than ${DEFAULT_MAX_FRAME_BYTES} bytes`);
      }
      frame = decodeServerFrame(text);
    } catch (err) {
      this.options.log.warn(`closing: ${(err as Error).message}`);
      ws.close(CloseCode.protocolError, (err as Error).message.slice(0, 120));
      return;
    }
    if (!frame) return;
    switch (frame.type) {
      case 'welcome':
        void this.onWelcome(
          ws,
          frame.ackedSeq,
          frame.session,
          frame.heartbeatSec,
          frame.maxBatchItems,
        );
        break;
      case 'ack':
        void this.onAck(frame.upTo);
        break;
      case 'request':
        void this.onRequest(ws, frame);
        break;
    }
  }

  private async onWelcome(
    ws: WebSocket,
    ackedSeq: number,
    session: string,
    heartbeatSec: number,
    maxBatchItems: number,
  ): Promise<void> {
    await this.options.outbox.acknowledge(ackedSeq);
    // The link may have closed while the outbox was busy: its close has already scheduled the
    // retry, so reporting it connected (and starting its heartbeat) would be wrong.
    if (this.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
    this.cursor = ackedSeq;
    this.inFlight = [];
    this.maxBatchItems = maxBatchItems;
    this.sessionId = session;
    this.backoff.reset();
    this.lastError = null;
    this.setState('connected', null);
    this.startHeartbeat(ws, heartbeatSec * 1000);
    this.options.log.info({ session, ackedSeq }, 'connected');
    await this.pump();
  }

  private async onAck(upTo: number): Promise<void> {
    const removed = await this.options.outbox.acknowledge(upTo);
    this.counters.acked += removed;
    this.counters.lastAckAt = new Date().toISOString();
    this.inFlight = this.inFlight.filter((last) => last > upTo);
    await this.pump();
  }

  private async onRequest(ws: WebSocket, request: RequestFrame): Promise<void> {
    let answer: Omit<ResponseFrame, 'type' | 'id'>;
    try {
      answer = await this.options.handleRequest(request);
    } catch (err) {
      answer = { ok: false, error: { code: 'internal', message: (err as Error).message } };
    }
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(encodeFrame({ type: 'response', id: request.id, ...answer }));
    }
  }

  /** Sends stored items in seq order while the window has room. */
  private async pump(): Promise<void> {
    if (this.pumping) {
      // Items may have arrived after the running pump's last read came back empty.
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    this.pumpAgain = false;
    // A read started for one connection must not be sent on the next: that one's welcome
    // may have moved the cursor back, and sending from the old cursor would skip items.
    const ws = this.ws;
    try {
      while (
        !this.stopping &&
        this.state === 'connected' &&
        ws !== null &&
        this.ws === ws &&
        ws.readyState === WebSocket.OPEN &&
        this.inFlight.length < this.window &&
        ws.bufferedAmount < MAX_BUFFERED_BYTES
      ) {
        const batch = await this.options.outbox.read(this.cursor, this.maxBatchItems);
        if (!batch || this.ws !== ws || ws.readyState !== WebSocket.OPEN) break;
        const frame = fitFrame(batch.frames, DEFAULT_MAX_FRAME_BYTES);
        const sentLast = batch.seqs[frame.count - 1]!;
        // Once the socket has written a frame out, the window may have room again.
        ws.send(frame.text, this.pumpSoon);
        this.cursor = sentLast;
        this.inFlight.push(sentLast);
        this.counters.sent += frame.count;
      }
    } finally {
      this.pumping = false;
      if (this.ws !== ws || this.pumpAgain) this.pumpSoon();
    }
  }

  private lastPong = 0;

  private startHeartbeat(ws: WebSocket, intervalMs: number): void {
    this.stopHeartbeat();
    this.lastPong = Date.now();
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastPong > 2 * intervalMs) {
        this.options.log.warn('no pong within two heartbeats: dropping the dead link');
        // The close that follows says only 1006; keep the reason for the status.
        this.dropReason = { code: 'heartbeat_lost', message: 'the server stopped answering pings' };
        ws.terminate();
        return;
      }
      ws.ping();
    }, intervalMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private setState(state: ConnectionState, error: CodedError | null): void {
    if (this.state === state && this.lastError === error) return;
    this.state = state;
    this.lastError = error;
    this.emit('state', state, error);
  }
}

/** As many of the items as fit in one frame; always at least one. */
function fitFrame(items: string[], maxBytes: number): { text: string; count: number } {
  const open = '{"type":"items","items":[';
  let bytes = open.length + 2;
  let count = 0;
  for (const item of items) {
    const size = Buffer.byteLength(item) + 1;
    if (count > 0 && bytes + size > maxBytes) break;
    bytes += size;
    count++;
  }
  return { text: `${open}${items.slice(0, count).join(',')}]}`, count };
}

/** The URL's host without IPv6 brackets. */
const hostOf = (url: URL) => url.hostname.replace(/^\[|\]$/g, '');
