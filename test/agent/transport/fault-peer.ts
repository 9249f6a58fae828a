// A programmable stand-in for the enterprise server, for testing the agent's session against
// the faults of a real network: it speaks protocol v1 over real TLS and real TCP, records
// what the agent sent, and lets each test script how every connection misbehaves.
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { TlsMaterial } from '../../../src-server/certs.ts';
import {
  PROTOCOL_VERSION,
  decodeAgentFrame,
  encodeFrame,
  type AgentFrame,
  type Hello,
  type Item,
} from '../../../src-agent/transport/codec.ts';

export type AckPolicy =
  | { mode: 'immediate' }
  /** Each frame's ack goes out `ms` later (its own timer, so acks keep their order). */
  | { mode: 'delayed'; ms: number }
  /** Every ack is sent twice. */
  | { mode: 'duplicated' }
  /**
   * Frames are acknowledged in pairs, the later one first. A frame left without a partner is
   * acknowledged alone after `flushMs`.
   */
  | { mode: 'outOfOrder'; flushMs?: number }
  /** No acks until the test calls `releaseAcks()`. */
  | { mode: 'never' };

export interface WelcomeOptions {
  /** Defaults to the highest seq the peer has stored, as a server would answer. */
  ackedSeq?: number;
  heartbeatSec?: number;
  maxBatchItems?: number;
}

export interface Script {
  /** Refuses the WebSocket handshake with this HTTP status instead of upgrading. */
  refuse?: number;
  /** `false`: never answer the hello. */
  welcome?: WelcomeOptions | false;
  acks?: AckPolicy;
  /** `false`: pings are received but never answered. */
  pong?: boolean;
  /** Runs right after the welcome has been sent. */
  afterWelcome?: (conn: PeerConnection) => void;
  /**
   * Runs for each items frame before it is stored and acknowledged. Returning `false` leaves
   * the frame unstored and unacknowledged, as a server that crashed before committing it.
   */
  onItems?: (conn: PeerConnection, items: Item[]) => boolean | void;
}

export class PeerConnection {
  readonly openedAt = Date.now();
  closedAt: number | null = null;
  /** The close code the peer's side saw (the agent's, when the agent closed first). */
  closeCode: number | null = null;
  hello: Hello | null = null;
  /** Every frame received, decoded, in arrival order. */
  readonly frames: AgentFrame[] = [];
  /** The seqs of each items frame, in arrival order. */
  readonly itemsFrames: number[][] = [];
  /** Texts that did not decode as agent frames: the agent broke the protocol. */
  readonly invalid: string[] = [];
  readonly acksSent: number[] = [];
  pings = 0;
  /** Most items frames seen at once with no ack sent for them. */
  maxUnacked = 0;
  /** Set once the peer stopped processing this connection (terminated or half-open). */
  deaf = false;
  readonly closed: Promise<void>;

  private acks: AckPolicy;
  private heldAck: { upTo: number; timer: NodeJS.Timeout } | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly index: number,
    readonly ws: WebSocket,
    /** The TLS socket under the WebSocket, for faults below the WebSocket layer. */
    readonly socket: Socket,
    readonly request: IncomingMessage,
    private readonly peer: FaultPeer,
    private readonly script: Script,
  ) {
    this.acks = script.acks ?? { mode: 'immediate' };
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        this.closedAt = Date.now();
        this.clearTimers();
        resolve();
      }),
    );
    ws.on('ping', (data) => {
      if (this.deaf) return;
      this.pings++;
      if (script.pong !== false) ws.pong(data);
    });
    ws.on('message', (data, isBinary) => {
      if (this.deaf) return;
      this.onMessage(isBinary ? '' : data.toString());
    });
    // A reset from the agent (it terminated the link) is expected, not a test failure.
    ws.on('error', () => undefined);
  }

  /** Seqs of every item received on this connection, in arrival order. */
  get seqs(): number[] {
    return this.itemsFrames.flat();
  }

  private get highestAck(): number {
    return Math.max(0, ...this.acksSent);
  }

  private onMessage(text: string): void {
    let frame: AgentFrame | null;
    try {
      frame = decodeAgentFrame(text);
    } catch {
      this.invalid.push(text);
      return;
    }
    if (!frame) return;
    this.frames.push(frame);
    if (frame.type === 'hello') {
      this.hello = frame;
      if (this.script.welcome === false) return;
      this.welcome(this.script.welcome ?? {});
      this.script.afterWelcome?.(this);
    } else if (frame.type === 'items') {
      const seqs = frame.items.map((item) => item.seq);
      this.itemsFrames.push(seqs);
      const highestAck = this.highestAck;
      const unacked = this.itemsFrames.filter((s) => s.at(-1)! > highestAck).length;
      this.maxUnacked = Math.max(this.maxUnacked, unacked);
      if (this.script.onItems?.(this, frame.items) === false) return;
      this.peer.store(frame.items);
      this.acknowledge(seqs.at(-1)!);
    }
  }

  welcome(options: WelcomeOptions): void {
    this.send({
      type: 'welcome',
      protocol: PROTOCOL_VERSION,
      session: `s-${this.index}`,
      ackedSeq: options.ackedSeq ?? this.peer.highestStored,
      heartbeatSec: options.heartbeatSec ?? 30,
      maxBatchItems: options.maxBatchItems ?? 500,
    });
  }

  private acknowledge(upTo: number): void {
    switch (this.acks.mode) {
      case 'immediate':
        return this.ack(upTo);
      case 'duplicated':
        this.ack(upTo);
        return this.ack(upTo);
      case 'delayed':
        this.later(this.acks.ms, () => this.ack(upTo));
        return;
      case 'outOfOrder': {
        const held = this.heldAck;
        if (held) {
          clearTimeout(held.timer);
          this.timers.delete(held.timer);
          this.heldAck = null;
          this.ack(upTo);
          return this.ack(held.upTo);
        }
        const timer = this.later(this.acks.flushMs ?? 150, () => {
          this.heldAck = null;
          this.ack(upTo);
        });
        this.heldAck = { upTo, timer };
        return;
      }
      case 'never':
        return;
    }
  }

  ack(upTo: number): void {
    this.acksSent.push(upTo);
    this.send({ type: 'ack', upTo });
  }

  /** Acknowledges everything received so far and answers every later frame at once. */
  releaseAcks(): void {
    this.acks = { mode: 'immediate' };
    const last = this.seqs.at(-1);
    if (last !== undefined) this.ack(last);
  }

  send(frame: Parameters<typeof encodeFrame>[0]): void {
    this.sendRaw(encodeFrame(frame));
  }

  sendRaw(text: string): void {
    if (!this.deaf && this.ws.readyState === this.ws.OPEN) this.ws.send(text);
  }

  close(code: number, reason = ''): void {
    this.ws.close(code, reason);
  }

  /** Drops the TCP connection at once, without a WebSocket close handshake. */
  terminate(): void {
    this.deaf = true;
    this.ws.terminate();
  }

  /**
   * The peer goes silent without closing anything: it stops reading the socket and never
   * writes again, so the agent sees neither FIN nor RST, only a link that carries nothing,
   * like a server behind a NAT entry that expired or a cable pulled somewhere in between.
   */
  halfOpen(): void {
    this.deaf = true;
    this.clearTimers();
    this.socket.pause();
  }

  private later(ms: number, run: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

export class FaultPeer {
  readonly connections: PeerConnection[] = [];
  /** Handshake attempts, refused ones included, with the time each arrived. */
  readonly attempts: { at: number; status: number; authorization: string | undefined }[] = [];
  /** Items stored, deduplicated on seq as the server does. */
  readonly stored = new Map<number, Item>();
  /** Script for connections not covered by `plan`. */
  defaultScript: Script = {};

  private readonly planned: Script[] = [];
  private readonly wss = new WebSocketServer({
    noServer: true,
    // Pongs are answered by PeerConnection, so a script can withhold them.
    autoPong: false,
    // Large enough for the agent's biggest frame; the size limit is not under test here.
    maxPayload: 16 * 1024 * 1024,
  });
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
  }

  static async start(tls: TlsMaterial): Promise<FaultPeer> {
    const server = createServer({ cert: tls.certPem, key: tls.keyPem });
    const peer = new FaultPeer(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return peer;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `wss://127.0.0.1:${port}/agent/v1`;
  }

  /** Scripts for the next connections, one each, in order. */
  plan(...scripts: Script[]): void {
    this.planned.push(...scripts);
  }

  get highestStored(): number {
    return Math.max(0, ...this.stored.keys());
  }

  /** Seqs of every item received, on any connection, in arrival order. */
  get received(): number[] {
    return this.connections.flatMap((conn) => conn.seqs);
  }

  store(items: readonly Item[]): void {
    for (const item of items) if (!this.stored.has(item.seq)) this.stored.set(item.seq, item);
  }

  /** Resolves with the `n`th (0-based) upgraded connection, once it has been accepted. */
  async connection(n: number, timeoutMs = 10_000): Promise<PeerConnection> {
    const deadline = Date.now() + timeoutMs;
    while (!this.connections[n]) {
      if (Date.now() > deadline) throw new Error(`no connection #${n} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.connections[n];
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const script = this.planned.shift() ?? this.defaultScript;
    const status = script.refuse ?? 101;
    this.attempts.push({ at: Date.now(), status, authorization: req.headers.authorization });
    if (script.refuse !== undefined) {
      const reason = STATUS_CODES[script.refuse] ?? 'Refused';
      socket.end(
        `HTTP/1.1 ${script.refuse} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.connections.push(
        new PeerConnection(this.connections.length, ws, socket, req, this, script),
      );
    });
  }

  async close(): Promise<void> {
    for (const conn of this.connections) conn.terminate();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
