// The reference enterprise server: accepts agents over wss (protocol.md), stores their items and
// acknowledges them once committed.
import { randomBytes } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  CloseCode,
  DEFAULT_MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  SUBPROTOCOL,
  decodeAgentFrame,
  encodeFrame,
  type AgentFrame,
  type ServerFrame,
} from '../src-agent/transport/codec.ts';
import { ensureTls } from './certs.ts';
import { TokenBucket } from './rate-limit.ts';
import { openStore, type DeviceStats, type Store } from './store.ts';

export const AGENT_PATH = '/agent/v1';

export interface ServerOptions {
  dataDir: string;
  host?: string;
  /** 0 picks any free port. */
  port?: number;
  log?: Logger;
  /** Appends every text frame received from agents, raw, one per line. */
  recordFramesFile?: string;
  heartbeatSec?: number;
  maxBatchItems?: number;
  /** Items per second each device may send; beyond it, its frames wait. */
  maxItemsPerSec?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  caFile: string;
  store: Store;
  stats(): Promise<(DeviceStats & { connected: boolean })[]>;
  close(): Promise<void>;
}

const INTERNAL_ERROR = 1011;
// How long close() waits for agents to answer the close frame before cutting them off.
const CLOSE_GRACE_MS = 2000;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const {
    dataDir,
    host = '127.0.0.1',
    port = 8443,
    log = pino({ level: 'silent' }),
    recordFramesFile,
    heartbeatSec = 30,
    maxBatchItems = 500,
    maxItemsPerSec = 200_000,
  } = options;
  // The limits of the welcome frame's schema: an agent would reject anything else.
  if (!Number.isInteger(heartbeatSec) || heartbeatSec < 1 || heartbeatSec > 3600) {
    throw new RangeError('heartbeatSec must be an integer from 1 to 3600');
  }
  if (!Number.isInteger(maxBatchItems) || maxBatchItems < 1 || maxBatchItems > 10_000) {
    throw new RangeError('maxBatchItems must be an integer from 1 to 10000');
  }

  const tls = await ensureTls(path.join(dataDir, 'tls'), certificateHosts(host));
  const store = await openStore(dataDir);
  const sessions = new Set<AgentSession>();
  const authenticated = new WeakMap<IncomingMessage, string>();
  const record = recordFramesFile
    ? (text: string) => appendFile(recordFramesFile, `${text}\n`)
    : undefined;

  const https = createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' });
  https.on('request', (_req, res) => res.writeHead(404).end());

  const wss = new WebSocketServer({
    noServer: true,
    path: AGENT_PATH,
    perMessageDeflate: true,
    // Larger than the protocol's limit, so an oversized frame is refused with the
    // protocol's own close code (4000) rather than ws's 1009.
    maxPayload: 4 * DEFAULT_MAX_FRAME_BYTES,
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    verifyClient: ({ req }, accept) => {
      if (!offersSubprotocol(req)) {
        accept(false, 400, `subprotocol ${SUBPROTOCOL} required`);
        return;
      }
      const token = bearerToken(req);
      if (token === null) {
        accept(false, 401, 'bearer token required', { 'WWW-Authenticate': 'Bearer' });
        return;
      }
      store.authenticate(token).then(
        (device) => {
          if (device === null) {
            log.warn({ remote: req.socket.remoteAddress }, 'refused an unknown device token');
            accept(false, 401, 'unknown device token', { 'WWW-Authenticate': 'Bearer' });
            return;
          }
          authenticated.set(req, device);
          accept(true);
        },
        (error: unknown) => {
          log.error({ err: error }, 'could not check a device token');
          accept(false, 503, 'try again later');
        },
      );
    },
  });
  https.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      // verifyClient accepted this request, so it recorded the device.
      const device = authenticated.get(req)!;
      const session = new AgentSession(ws, device, {
        store,
        log,
        record,
        heartbeatSec,
        maxBatchItems,
        maxItemsPerSec,
      });
      sessions.add(session);
      ws.once('close', () => sessions.delete(session));
    });
  });

  try {
    await listen(https, port, host);
  } catch (error) {
    await store.close();
    throw error;
  }
  const heartbeat = setInterval(() => {
    for (const session of sessions) session.heartbeat();
  }, heartbeatSec * 1000);
  const boundPort = (https.address() as AddressInfo).port;
  const url = `wss://${host.includes(':') ? `[${host}]` : host}:${boundPort}${AGENT_PATH}`;
  log.info({ url, caFile: tls.caFile }, 'listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port: boundPort,
    caFile: tls.caFile,
    store,
    async stats() {
      const connected = new Set([...sessions].map((session) => session.device));
      const devices = await store.stats();
      return devices.map((device) => ({ ...device, connected: connected.has(device.id) }));
    },
    close() {
      closing ??= (async () => {
        clearInterval(heartbeat);
        wss.close();
        await Promise.all([...sessions].map((session) => session.shutDown()));
        https.closeAllConnections();
        await new Promise<void>((resolve, reject) =>
          https.close((error) => (error ? reject(error) : resolve())),
        );
        await store.close();
        log.info('closed');
      })();
      return closing;
    },
  };
}

interface SessionContext {
  store: Store;
  log: Logger;
  record: ((text: string) => Promise<void>) | undefined;
  heartbeatSec: number;
  maxBatchItems: number;
  maxItemsPerSec: number;
}

/** One agent connection: frames are handled strictly one after another, in arrival order. */
class AgentSession {
  private readonly id = `s-${randomBytes(8).toString('hex')}`;
  private stream: string | undefined;
  private missedPongs = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly rate: TokenBucket;

  constructor(
    private readonly ws: WebSocket,
    readonly device: string,
    private readonly context: SessionContext,
  ) {
    this.log = context.log.child({ device, session: this.id });
    this.rate = new TokenBucket(context.maxItemsPerSec, context.maxItemsPerSec);
    this.log.info('agent connected');
    ws.on('message', (data, isBinary) => this.enqueue(data, isBinary));
    ws.on('pong', () => {
      this.missedPongs = 0;
      context.store
        .touchDevice(device)
        .catch((error: unknown) => this.log.error({ err: error }, 'could not record a pong'));
    });
    ws.on('error', (error) => this.log.warn({ err: error }, 'websocket error'));
    ws.on('close', (code, reason) =>
      this.log.info({ code, reason: reason.toString() }, 'agent disconnected'),
    );
  }

  /** Called every heartbeat interval: an agent that missed two pongs in a row is gone. */
  heartbeat(): void {
    if (this.missedPongs >= 2) {
      this.log.warn('no pong for two heartbeats: dropping the agent');
      this.ws.terminate();
      return;
    }
    this.missedPongs += 1;
    this.ws.ping();
  }

  /** Closes with 1001 and resolves once the socket is closed and no frame is being handled. */
  async shutDown(): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) resolve();
      else this.ws.once('close', () => resolve());
    });
    this.ws.close(CloseCode.goingAway, 'server shutting down');
    const timer = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    await closed;
    clearTimeout(timer);
    await this.queue;
  }

  private enqueue(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.closeWith(CloseCode.protocolError, 'binary frames are not supported');
      return;
    }
    const text = data.toString();
    if (Buffer.byteLength(text) > DEFAULT_MAX_FRAME_BYTES) {
      this.closeWith(CloseCode.protocolError, `frame larger than ${DEFAULT_MAX_FRAME_BYTES} bytes`);
      return;
    }
    this.queue = this.queue.then(async () => {
      try {
        await this.context.record?.(text);
        if (this.ws.readyState === WebSocket.OPEN) await this.handle(text);
      } catch (error) {
        if (error instanceof ProtocolError) {
          this.closeWith(CloseCode.protocolError, error.message);
        } else {
          this.log.error({ err: error }, 'could not handle a frame');
          this.closeWith(INTERNAL_ERROR, 'internal error');
        }
      }
    });
  }

  private async handle(text: string): Promise<void> {
    const frame = decodeAgentFrame(text);
    if (frame === null) {
      this.log.debug('ignored a frame of an unknown type');
      return;
    }
    if (frame.type === 'hello') {
      await this.hello(frame);
      return;
    }
    if (this.stream === undefined) throw new ProtocolError(`"${frame.type}" before "hello"`);
    if (frame.type === 'items') {
      const wait = this.rate.take(frame.items.length);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const upTo = await this.context.store.storeItems(this.device, this.stream, frame.items);
      this.send({ type: 'ack', upTo });
    }
    // `response` and `chunk` answer requests, which this server does not send yet.
  }

  private async hello(frame: Extract<AgentFrame, { type: 'hello' }>): Promise<void> {
    if (this.stream !== undefined) throw new ProtocolError('second "hello"');
    if (frame.protocol !== PROTOCOL_VERSION) {
      throw new ProtocolError(`protocol ${frame.protocol} not supported`);
    }
    if (frame.device.id !== this.device) {
      this.log.warn({ claimed: frame.device.id }, 'token used for another device id');
      this.closeWith(CloseCode.tokenRevoked, 'token does not belong to this device');
      return;
    }
    const { store } = this.context;
    await store.recordHello(this.device, frame.device.kind, frame.device.model);
    const ackedSeq = await store.ackedSeq(this.device, frame.outbox.stream);
    this.stream = frame.outbox.stream;
    this.log.info({ stream: this.stream, ackedSeq, pending: frame.outbox.pending }, 'hello');
    this.send({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      session: this.id,
      ackedSeq,
      heartbeatSec: this.context.heartbeatSec,
      maxBatchItems: this.context.maxBatchItems,
    });
  }

  private send(frame: ServerFrame): void {
    this.ws.send(encodeFrame(frame));
  }

  private closeWith(code: number, reason: string): void {
    this.log.warn({ code, reason }, 'closing the connection');
    this.ws.close(code, truncateReason(reason));
  }
}

function certificateHosts(host: string): string[] {
  const hosts = ['127.0.0.1', 'localhost'];
  const wildcard = host === '0.0.0.0' || host === '::';
  return wildcard || hosts.includes(host) ? hosts : [...hosts, host];
}

function offersSubprotocol(req: IncomingMessage): boolean {
  const offered = req.headers['sec-websocket-protocol'] ?? '';
  return offered.split(',').some((protocol) => protocol.trim() === SUBPROTOCOL);
}

function bearerToken(req: IncomingMessage): string | null {
  const match = /^Bearer +(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return match?.[1] ?? null;
}

// RFC 6455 caps a close reason at 123 bytes; ws throws on longer ones.
function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason);
  if (bytes.length <= 123) return reason;
  // A multi-byte character cut in half decodes to U+FFFD: drop it rather than grow the reason.
  return `${bytes
    .subarray(0, 120)
    .toString()
    .replace(/\uFFFD$/, '')}...`;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
