import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import {
  SUBPROTOCOL,
  decodeServerFrame,
  type Item,
  type ServerFrame,
} from '../../src-agent/transport/codec.ts';
import { startServer, type RunningServer } from '../../src-server/server.ts';

interface Peer {
  ws: WebSocket;
  send(frame: unknown): void;
  next(): Promise<ServerFrame>;
  closed: Promise<{ code: number; reason: string }>;
}

async function connect(
  server: RunningServer,
  ca: string,
  token: string,
  options: ClientOptions = {},
): Promise<Peer> {
  const ws = new WebSocket(server.url, SUBPROTOCOL, {
    ca,
    headers: { Authorization: `Bearer ${token}` },
    ...options,
  });
  const inbox: ServerFrame[] = [];
  const waiting: ((frame: ServerFrame) => void)[] = [];
  ws.on('message', (data) => {
    const frame = decodeServerFrame(data.toString());
    if (frame === null) throw new Error(`server sent an unknown frame: ${data.toString()}`);
    const waiter = waiting.shift();
    if (waiter) waiter(frame);
    else inbox.push(frame);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await once(ws, 'open');
  return {
    ws,
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    next: () => {
      const frame = inbox.shift();
      return frame ? Promise.resolve(frame) : new Promise((resolve) => waiting.push(resolve));
    },
    closed,
  };
}

/** The HTTP status with which the server refuses a handshake. */
function refusal(
  server: RunningServer,
  ca: string,
  headers: Record<string, string>,
  protocol = SUBPROTOCOL,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.url, protocol, { ca, headers });
    ws.on('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    ws.on('open', () => reject(new Error('the server accepted the handshake')));
    ws.on('error', reject);
  });
}

const hello = (device: string, stream: string) => ({
  type: 'hello',
  protocol: 1,
  agent: { name: 'scopelink-agent', version: '0.0.0-test' },
  device: { id: device, kind: 'em', model: 'GeminiSEM 560' },
  outbox: { stream, pending: 0 },
});

const item = (seq: number): Item => ({
  seq,
  ts: '2026-11-30T08:00:01.250+01:00',
  source: 'em-server',
  name: 'gun.filament.hours',
  value: 1500 + seq,
  unit: 'h',
  kind: 'metric',
});

describe('agent protocol', () => {
  let dir: string;
  let server: RunningServer;
  let ca: string;
  let recorded: string;
  let devices = 0;

  /** A fresh device, so tests never see each other's items. */
  async function newDevice(): Promise<{ id: string; token: string; stream: string }> {
    const id = `EM-${++devices}`;
    return { id, token: await server.store.addDevice(id), stream: randomUUID() };
  }

  async function welcomed(
    device: { id: string; token: string; stream: string },
    options?: ClientOptions,
  ): Promise<{ peer: Peer; welcome: ServerFrame }> {
    const peer = await connect(server, ca, device.token, options);
    peer.send(hello(device.id, device.stream));
    return { peer, welcome: await peer.next() };
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scopelink-server-'));
    recorded = path.join(dir, 'frames.jsonl');
    server = await startServer({
      dataDir: dir,
      port: 0,
      maxBatchItems: 250,
      recordFramesFile: recorded,
    });
    ca = await readFile(server.caFile, 'utf8');
  });

  afterAll(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 with a wss URL', () => {
    expect(server.url).toBe(`wss://127.0.0.1:${server.port}/agent/v1`);
    expect(server.port).toBeGreaterThan(0);
  });

  it('refuses a missing or unknown token with 401', async () => {
    const { token } = await newDevice();

    expect(await refusal(server, ca, {})).toBe(401);
    expect(await refusal(server, ca, { Authorization: 'Bearer not-a-known-token' })).toBe(401);
    expect(await refusal(server, ca, { Authorization: `Basic ${token}` })).toBe(401);
  });

  it('refuses another subprotocol with 400', async () => {
    const { token } = await newDevice();

    expect(await refusal(server, ca, { Authorization: `Bearer ${token}` }, 'other.v1')).toBe(400);
  });

  it('negotiates the subprotocol and permessage-deflate', async () => {
    const peer = await connect(server, ca, (await newDevice()).token);

    expect(peer.ws.protocol).toBe(SUBPROTOCOL);
    expect(peer.ws.extensions).toContain('permessage-deflate');
    peer.ws.close();
  });

  it('answers hello with welcome and ackedSeq 0 for a new stream', async () => {
    const { peer, welcome } = await welcomed(await newDevice());

    expect(welcome).toMatchObject({
      type: 'welcome',
      protocol: 1,
      ackedSeq: 0,
      heartbeatSec: 30,
      maxBatchItems: 250,
    });
    expect(welcome.type === 'welcome' && welcome.session).toMatch(/^s-[0-9a-f]{16}$/);
    peer.ws.close();
  });

  it('acknowledges items with the highest seq once they are stored', async () => {
    const device = await newDevice();
    const { peer } = await welcomed(device);

    peer.send({ type: 'items', items: [item(1), item(2), item(3)] });

    expect(await peer.next()).toEqual({ type: 'ack', upTo: 3 });
    const stored = await server.store.listItems({ device: device.id });
    expect(stored).toEqual(
      [1, 2, 3].map((seq) => ({ device: device.id, stream: device.stream, ...item(seq) })),
    );
    peer.ws.close();
  });

  it('does not acknowledge items before their transaction can commit', async () => {
    const device = await newDevice();
    const { peer } = await welcomed(device);
    const blocker = await holdWriteLock(path.join(dir, 'server.db'));
    let released = false;

    peer.send({ type: 'items', items: [item(1)] });
    setTimeout(() => {
      released = true;
      void blocker.release();
    }, 300);

    expect(await peer.next()).toEqual({ type: 'ack', upTo: 1 });
    expect(released).toBe(true);
    peer.ws.close();
  });

  it('acknowledges a resent batch again and stores it once', async () => {
    const device = await newDevice();
    const { peer } = await welcomed(device);
    const batch = { type: 'items', items: [item(10), item(11)] };

    peer.send(batch);
    peer.send(batch);
    peer.send({ type: 'items', items: [item(11), item(12)] });

    expect(await peer.next()).toEqual({ type: 'ack', upTo: 11 });
    expect(await peer.next()).toEqual({ type: 'ack', upTo: 11 });
    expect(await peer.next()).toEqual({ type: 'ack', upTo: 12 });
    const stored = await server.store.listItems({ device: device.id });
    expect(stored.map((row) => row.seq)).toEqual([10, 11, 12]);
    peer.ws.close();
  });

  it('welcomes a reconnecting agent with the highest stored seq of its stream', async () => {
    const device = await newDevice();
    const first = await welcomed(device);
    first.peer.send({ type: 'items', items: [item(41), item(42)] });
    await first.peer.next();
    first.peer.ws.close();
    await first.peer.closed;

    const again = await welcomed(device);
    const otherStream = await welcomed({ ...device, stream: randomUUID() });

    expect(again.welcome).toMatchObject({ type: 'welcome', ackedSeq: 42 });
    expect(otherStream.welcome).toMatchObject({ type: 'welcome', ackedSeq: 0 });
    expect(again.welcome).not.toMatchObject({
      session: first.welcome.type === 'welcome' && first.welcome.session,
    });
    again.peer.ws.close();
    otherStream.peer.ws.close();
  });

  it('closes with 4000 on malformed JSON', async () => {
    const { peer } = await welcomed(await newDevice());

    peer.send('{"type":"items",');

    expect(await peer.closed).toMatchObject({ code: 4000 });
  });

  it('closes with 4000 on a frame over the 1 MiB limit', async () => {
    const { peer } = await welcomed(await newDevice());

    peer.send(JSON.stringify({ type: 'padding', data: 'x'.repeat(1024 * 1024) }));

    const { code, reason } = await peer.closed;
    expect(code).toBe(4000);
    expect(reason).toMatch(/larger than/);
  });

  it('closes with 4000 on a frame that breaks the schema', async () => {
    const { peer } = await welcomed(await newDevice());

    peer.send({ type: 'items', items: [{ ...item(1), seq: -1 }] });

    const { code, reason } = await peer.closed;
    expect(code).toBe(4000);
    expect(reason).toContain('seq');
  });

  it('closes with 4000 on items before hello', async () => {
    const peer = await connect(server, ca, (await newDevice()).token);

    peer.send({ type: 'items', items: [item(1)] });

    expect(await peer.closed).toMatchObject({ code: 4000 });
  });

  it('closes with 4003 when the token belongs to another device', async () => {
    const device = await newDevice();
    const other = await newDevice();
    const peer = await connect(server, ca, device.token);

    peer.send(hello(other.id, other.stream));

    expect(await peer.closed).toMatchObject({ code: 4003 });
    expect(await server.store.listItems({ device: other.id })).toEqual([]);
  });

  it('ignores frames of unknown types', async () => {
    const { peer } = await welcomed(await newDevice());

    peer.send({ type: 'telemetry.v2', anything: [1, 2, 3] });
    peer.send({ type: 'items', items: [item(7)] });

    expect(await peer.next()).toEqual({ type: 'ack', upTo: 7 });
    expect(peer.ws.readyState).toBe(WebSocket.OPEN);
    peer.ws.close();
  });

  it('records every text frame it receives, raw', async () => {
    const device = await newDevice();
    const { peer } = await welcomed(device);
    const raw = JSON.stringify({ type: 'items', items: [item(99)] });

    peer.send(raw);
    await peer.next();

    const lines = (await readFile(recorded, 'utf8')).split('\n');
    expect(lines).toContain(JSON.stringify(hello(device.id, device.stream)));
    expect(lines).toContain(raw);
    peer.ws.close();
  });

  it('reports which devices are connected', async () => {
    const device = await newDevice();
    const { peer } = await welcomed(device);

    expect((await server.stats()).find((stats) => stats.id === device.id)).toMatchObject({
      connected: true,
      kind: 'em',
      model: 'GeminiSEM 560',
    });
    peer.ws.close();
    await peer.closed;
    // The server sees the socket close a moment after the client does.
    await vi.waitFor(async () =>
      expect((await server.stats()).find((stats) => stats.id === device.id)).toMatchObject({
        connected: false,
      }),
    );
  });
});

describe('server lifecycle', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scopelink-lifecycle-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('drops an agent that stops answering pings and keeps one that answers', async () => {
    const server = await startServer({ dataDir: dir, port: 0, heartbeatSec: 1 });
    try {
      const ca = await readFile(server.caFile, 'utf8');
      const silent = await connect(server, ca, await server.store.addDevice('EM-silent'), {
        autoPong: false,
      });
      const alive = await connect(server, ca, await server.store.addDevice('EM-alive'));

      expect((await silent.closed).code).toBe(1006);
      expect(alive.ws.readyState).toBe(WebSocket.OPEN);
      alive.ws.close();
    } finally {
      await server.close();
    }
  }, 10_000);

  it('closes agents with 1001 on close() and frees the port', async () => {
    const server = await startServer({ dataDir: dir, port: 0 });
    const ca = await readFile(server.caFile, 'utf8');
    const peer = await connect(server, ca, await server.store.addDevice('EM-closing'));

    await server.close();

    expect(await peer.closed).toMatchObject({ code: 1001 });
    expect(await refusal(server, ca, {}).catch((error: Error) => error.message)).toMatch(
      /ECONNREFUSED/,
    );
  });
});

/** Holds SQLite's write lock from a second connection, as another writer would. */
async function holdWriteLock(file: string): Promise<{ release(): Promise<void> }> {
  const db = new sqlite3.Database(file);
  await new Promise<void>((resolve, reject) =>
    db.exec('BEGIN IMMEDIATE', (error) => (error ? reject(error) : resolve())),
  );
  return {
    release: () =>
      new Promise<void>((resolve, reject) =>
        db.exec('ROLLBACK', () => db.close((error) => (error ? reject(error) : resolve()))),
      ),
  };
}
