// The real Session and a real Outbox against a peer that misbehaves on purpose: the faults a
// lab's network and a restarting server produce, each checked by what the peer ends up with,
// what the outbox still holds, and what the session reports.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src-agent/log.ts';
import { Outbox } from '../../../src-agent/outbox/outbox.ts';
import type { ConnectionState } from '../../../src-agent/status.ts';
import type { NewItem } from '../../../src-agent/transport/codec.ts';
import { Session, type SessionOptions } from '../../../src-agent/transport/session.ts';
import { ensureTls, type TlsMaterial } from '../../../src-server/certs.ts';
import { FaultPeer, type AckPolicy } from './fault-peer.ts';

interface StateChange {
  state: ConnectionState;
  code: string | null;
  at: number;
}

let tls: TlsMaterial;
let certDir: string;
let dir: string;
let peer: FaultPeer;
let outbox: Outbox;
let sessions: Session[];

beforeAll(async () => {
  // One CA for the whole file: generating RSA keys is the slowest part of the setup.
  certDir = await mkdtemp(path.join(os.tmpdir(), 'session-faults-tls-'));
  tls = await ensureTls(certDir);
});

afterAll(async () => {
  await rm(certDir, { recursive: true, force: true });
});

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'session-faults-'));
  peer = await FaultPeer.start(tls);
  outbox = await Outbox.open(path.join(dir, 'outbox.db'));
  sessions = [];
});

afterEach(async () => {
  // A short grace: some tests leave frames unacknowledged on purpose.
  for (const session of sessions) await session.stop(100);
  await peer.close();
  await outbox.close();
  await rm(dir, { recursive: true, force: true });
});

function startSession(options: Partial<SessionOptions> = {}): {
  session: Session;
  history: StateChange[];
} {
  const session = new Session({
    url: peer.url,
    token: 't',
    device: { id: 'EM-1', kind: 'em' },
    agentVersion: '1.2.3',
    ca: [tls.caPem],
    outbox,
    log: silentLogger(),
    handleRequest: async () => ({ ok: true, result: {} }),
    // Jitter at its minimum: every backoff delay is half its ceiling, 4001 reconnects at 0 ms.
    random: () => 0,
    ...options,
  });
  const history: StateChange[] = [];
  session.on('state', (state, error) =>
    history.push({ state, code: error?.code ?? null, at: Date.now() }),
  );
  sessions.push(session);
  session.start();
  return { session, history };
}

const metrics = (count: number, from = 0): NewItem[] =>
  Array.from({ length: count }, (_, i) => ({
    ts: new Date(Date.UTC(2026, 10, 30, 8, 0, from + i)).toISOString(),
    source: 'em-server',
    name: 'vacuum.gun',
    value: from + i,
    kind: 'metric',
  }));

const range = (first: number, last: number): number[] =>
  Array.from({ length: last - first + 1 }, (_, i) => first + i);

const waitFor = <T>(check: () => T, timeout = 10_000): Promise<T> =>
  vi.waitFor(check, { timeout, interval: 20 });

/** Only for asserting that something does NOT happen: there is no condition to wait for. */
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const storedSeqs = () => [...peer.stored.keys()].sort((a, b) => a - b);

async function connected(session: Session): Promise<void> {
  await waitFor(() => expect(session.state).toBe('connected'));
}

describe('Session against a fault-injecting peer', () => {
  it('happy path: hello describes the outbox, items go in seq order, acks drain it', async () => {
    await outbox.append(metrics(5), []);
    const { session } = startSession();
    const conn = await peer.connection(0);
    await waitFor(() => expect(outbox.pending).toBe(0));
    await outbox.append(metrics(3, 5), []);
    await waitFor(() => expect(storedSeqs()).toEqual(range(1, 8)));
    await waitFor(() => expect(outbox.pending).toBe(0));

    expect(peer.attempts[0]?.authorization).toBe('Bearer t');
    expect(conn.frames[0]?.type).toBe('hello');
    expect(conn.hello).toMatchObject({
      protocol: 1,
      device: { id: 'EM-1', kind: 'em' },
      outbox: { stream: outbox.stream, pending: 5, oldestTs: metrics(1)[0]!.ts },
    });
    expect(conn.frames.filter((f) => f.type === 'hello')).toHaveLength(1);
    expect(conn.seqs).toEqual(range(1, 8));
    expect(conn.invalid).toEqual([]);
    expect(session.state).toBe('connected');
    expect(session.sessionId).toBe('s-0');
    expect(session.counters).toMatchObject({ sent: 8, acked: 8 });
    expect(peer.connections).toHaveLength(1);
  });

  describe('connection dropped in mid-batch', () => {
    it('resends from the oldest unacknowledged item when the peer died before committing', async () => {
      peer.plan({
        welcome: { maxBatchItems: 5 },
        onItems: (conn) => {
          conn.terminate();
          return false;
        },
      });
      peer.defaultScript = { welcome: { maxBatchItems: 5 } };
      await outbox.append(metrics(20), []);
      const { history } = startSession();
      await waitFor(() => expect(storedSeqs()).toEqual(range(1, 20)));
      await waitFor(() => expect(outbox.pending).toBe(0));

      const [first, second] = peer.connections;
      expect(first!.itemsFrames[0]).toEqual(range(1, 5));
      // The whole outbox again, from seq 1, each item once and in order.
      expect(second!.seqs).toEqual(range(1, 20));
      expect(peer.connections).toHaveLength(2);
      expect(history).toContainEqual(expect.objectContaining({ state: 'offline' }));
    });

    it('starts after what the peer stored when only the ack was lost', async () => {
      peer.plan({
        welcome: { maxBatchItems: 5 },
        onItems: (conn, items) => {
          // Committed, then the connection died before the ack went out.
          peer.store(items);
          conn.terminate();
          return false;
        },
      });
      peer.defaultScript = { welcome: { maxBatchItems: 5 } };
      await outbox.append(metrics(20), []);
      startSession();
      await waitFor(() => expect(storedSeqs()).toEqual(range(1, 20)));
      await waitFor(() => expect(outbox.pending).toBe(0));

      const second = peer.connections[1]!;
      expect(second.frames.find((f) => f.type === 'hello')).toMatchObject({
        outbox: { pending: 20 },
      });
      expect(second.seqs).toEqual(range(6, 20));
      // Every seq reached the peer exactly once, across both connections.
      expect(peer.received).toEqual(range(1, 20));
    });

    it('a link dropped right after its welcome is never reported as connected', async () => {
      // The drop lands while the session is still applying the welcome to the outbox.
      await outbox.append(metrics(5), []);
      peer.plan({ afterWelcome: (conn) => conn.terminate() });
      const { history } = startSession();
      await peer.connection(1);
      await waitFor(() => expect(outbox.pending).toBe(0));

      const offline = history.findIndex((h) => h.state === 'offline');
      expect(offline).toBeGreaterThan(0);
      expect(history[offline + 1]?.state).toBe('connecting');
      expect(storedSeqs()).toEqual(range(1, 5));
    });
  });

  it.each<[string, AckPolicy]>([
    ['delayed', { mode: 'delayed', ms: 300 }],
    ['duplicated', { mode: 'duplicated' }],
    ['out of order', { mode: 'outOfOrder' }],
  ])('acks %s: the outbox drains, nothing is resent, the link stays up', async (_, acks) => {
    // Two items a frame, so there are more frames than the window holds.
    peer.defaultScript = { welcome: { maxBatchItems: 2 }, acks };
    await outbox.append(metrics(20), []);
    const { session, history } = startSession();
    const conn = await peer.connection(0);
    await connected(session);
    await outbox.append(metrics(5, 20), []);
    await outbox.append(metrics(5, 25), []);
    await waitFor(() => expect(storedSeqs()).toEqual(range(1, 30)));
    await waitFor(() => expect(outbox.pending).toBe(0));
    // The session counts an ack once the outbox has removed its items: a poll may fall between.
    await waitFor(() => expect(session.counters).toMatchObject({ sent: 30, acked: 30 }));

    expect(conn.seqs).toEqual(range(1, 30));
    expect(peer.connections).toHaveLength(1);
    expect(session.state).toBe('connected');
    expect(history.map((h) => h.state)).toEqual(['connecting', 'connected']);
    expect(conn.maxUnacked).toBeLessThanOrEqual(8);
    // The fault really happened.
    if (acks.mode === 'duplicated') {
      expect(new Set(conn.acksSent).size).toBeLessThan(conn.acksSent.length);
    }
    if (acks.mode === 'outOfOrder') {
      expect(conn.acksSent.some((upTo, i) => i > 0 && upTo < conn.acksSent[i - 1]!)).toBe(true);
    }
  });

  it('welcome.ackedSeq in the middle of the outbox: drops up to it, sends from after it', async () => {
    await outbox.append(metrics(10), []);
    const seqs = (await outbox.read(0, 100))!.seqs;
    peer.plan({ welcome: { ackedSeq: seqs[5]! }, acks: { mode: 'never' } });
    const { session } = startSession();
    const conn = await peer.connection(0);
    await connected(session);
    await waitFor(() => expect(conn.seqs).toEqual(seqs.slice(6)));
    // Acks are withheld, so what left the outbox is what the welcome acknowledged.
    expect(outbox.pending).toBe(4);
    expect((await outbox.read(0, 100))!.seqs).toEqual(seqs.slice(6));
    expect(conn.hello?.outbox.pending).toBe(10);

    conn.releaseAcks();
    await waitFor(() => expect(outbox.pending).toBe(0));
    expect(conn.seqs).toEqual(seqs.slice(6));
  });

  describe('close codes', () => {
    it('4001 (session expired): reconnects at once, not after backoff', async () => {
      // A backoff this long would make a treated-as-failure reconnect miss the bound by far.
      const { session, history } = startSession({ retry: { baseMs: 20_000, capMs: 20_000 } });
      const first = await peer.connection(0);
      await connected(session);
      first.close(4001, 'session expired');
      const second = await peer.connection(1);
      await connected(session);

      await first.closed;
      expect(second.openedAt - first.closedAt!).toBeLessThan(1500);
      expect(history.map((h) => h.state)).not.toContain('offline');
      expect(session.sessionId).toBe('s-1');
    });

    it.each([
      [1000, 'connection_lost'],
      [1001, 'connection_lost'],
      [4000, 'protocol_error'],
    ])('%i: offline, then a reconnect after backoff', async (code, errorCode) => {
      const { session, history } = startSession();
      const first = await peer.connection(0);
      await connected(session);
      first.close(code, 'bye');
      await peer.connection(1);
      await connected(session);

      const offline = history.findIndex((h) => h.state === 'offline');
      expect(history[offline]).toMatchObject({ code: errorCode });
      const retried = history.slice(offline).find((h) => h.state === 'connecting')!;
      // The first backoff delay with minimal jitter is 500 ms; a 4001-style instant
      // reconnect would come within a few milliseconds.
      expect(retried.at - history[offline]!.at).toBeGreaterThanOrEqual(400);
      expect(peer.attempts).toHaveLength(2);
    });

    it('4003 (token revoked): unauthorised, token_revoked, no fast reconnect', async () => {
      const { session } = startSession();
      const first = await peer.connection(0);
      await connected(session);
      first.close(4003, 'device token revoked');
      await waitFor(() => expect(session.state).toBe('unauthorised'));
      expect(session.lastError?.code).toBe('token_revoked');

      // Transient backoff would have retried after 500 ms.
      await settle(1200);
      expect(peer.attempts).toHaveLength(1);
      expect(session.state).toBe('unauthorised');
    });

    it.each([401, 403])(
      'handshake %i: unauthorised, not_authorised, no fast reconnect',
      async (status) => {
        peer.plan({ refuse: status });
        const { session } = startSession();
        await waitFor(() => expect(session.state).toBe('unauthorised'));
        expect(session.lastError).toMatchObject({
          code: 'not_authorised',
          message: expect.stringContaining(String(status)),
        });

        await settle(1200);
        expect(peer.attempts).toHaveLength(1);
        expect(session.state).toBe('unauthorised');
      },
    );

    it('handshake 500: offline (handshake_refused), then retried with backoff', async () => {
      peer.plan({ refuse: 500 });
      const { session, history } = startSession();
      await waitFor(() => expect(peer.attempts).toHaveLength(2));
      await connected(session);

      expect(history[1]).toMatchObject({ state: 'offline', code: 'handshake_refused' });
      expect(peer.attempts.map((a) => a.status)).toEqual([500, 101]);
      expect(peer.attempts[1]!.at - peer.attempts[0]!.at).toBeGreaterThanOrEqual(400);
    });
  });

  it('pongs never answered: drops the link after two heartbeats and reconnects', async () => {
    peer.plan({ welcome: { heartbeatSec: 1 }, pong: false });
    const { session, history } = startSession();
    const first = await peer.connection(0);
    await connected(session);
    await first.closed;
    await peer.connection(1);
    await connected(session);

    const lost = history.find((h) => h.state === 'offline');
    expect(lost?.code).toBe('heartbeat_lost');
    expect(first.pings).toBeGreaterThanOrEqual(1);
    // Two missed intervals of 1 s, checked on the next tick: about 3 s, and never before 2 s.
    const lifetime = first.closedAt! - first.openedAt;
    expect(lifetime).toBeGreaterThanOrEqual(1900);
    expect(lifetime).toBeLessThan(5000);
  }, 15_000);

  it('half-open TCP connection: detected by heartbeats, items sent meanwhile arrive once', async () => {
    peer.plan({ welcome: { heartbeatSec: 1 }, afterWelcome: (conn) => conn.halfOpen() });
    await outbox.append(metrics(5), []);
    const { session, history } = startSession();
    const first = await peer.connection(0);
    await connected(session);
    await outbox.append(metrics(5, 5), []);

    await peer.connection(1);
    await waitFor(() => expect(storedSeqs()).toEqual(range(1, 10)), 10_000);
    await waitFor(() => expect(outbox.pending).toBe(0));

    expect(history.find((h) => h.state === 'offline')?.code).toBe('heartbeat_lost');
    // The peer went deaf right after the welcome: the first link carried nothing it saw.
    expect(first.seqs).toEqual([]);
    expect(peer.connections[1]!.seqs).toEqual(range(1, 10));
    expect(peer.received).toEqual(range(1, 10));
    expect(session.state).toBe('connected');
  }, 15_000);

  it('window: never more than 8 items frames unacknowledged; released acks let it go on', async () => {
    peer.plan({ welcome: { maxBatchItems: 1 }, acks: { mode: 'never' } });
    await outbox.append(metrics(20), []);
    const { session } = startSession();
    const conn = await peer.connection(0);
    await waitFor(() => expect(conn.itemsFrames).toHaveLength(8));
    await settle(300);
    expect(conn.itemsFrames).toHaveLength(8);
    expect(session.counters.sent).toBe(8);
    expect(outbox.pending).toBe(20);

    conn.releaseAcks();
    await waitFor(() => expect(outbox.pending).toBe(0));
    expect(conn.seqs).toEqual(range(1, 20));
    expect(conn.maxUnacked).toBe(8);
  });

  it('window: duplicated and stale acks free no extra slots', async () => {
    peer.plan({ welcome: { maxBatchItems: 1 }, acks: { mode: 'never' } });
    await outbox.append(metrics(20), []);
    startSession();
    const conn = await peer.connection(0);
    await waitFor(() => expect(conn.itemsFrames).toHaveLength(8));

    // One frame acknowledged, twice: exactly one slot frees, so exactly one more frame.
    conn.ack(1);
    conn.ack(1);
    await waitFor(() => expect(conn.itemsFrames.length).toBeGreaterThanOrEqual(9));
    await settle(200);
    expect(conn.itemsFrames).toHaveLength(9);
    // Frames 2 and 3 acknowledged, the later ack first: two more slots, no more.
    conn.ack(3);
    conn.ack(2);
    await waitFor(() => expect(conn.itemsFrames.length).toBeGreaterThanOrEqual(11));
    await settle(200);
    expect(conn.itemsFrames).toHaveLength(11);
    expect(conn.maxUnacked).toBe(8);
    expect(outbox.pending).toBe(17);
    expect(conn.seqs).toEqual(range(1, 11));
  });

  describe('malformed server frames', () => {
    it('invalid JSON: the agent closes with 4000 and reconnects', async () => {
      peer.plan({ afterWelcome: (conn) => conn.sendRaw('{"type":"ack","upTo":') });
      const { session, history } = startSession();
      const first = await peer.connection(0);
      await first.closed;
      await peer.connection(1);
      await connected(session);

      expect(first.closeCode).toBe(4000);
      expect(history).toContainEqual(
        expect.objectContaining({ state: 'offline', code: 'protocol_error' }),
      );
    });

    it('a frame over maxFrameBytes: the agent closes with 4000', async () => {
      const big = JSON.stringify({ type: 'ack', upTo: 0, pad: 'x'.repeat(1024 * 1024) });
      peer.plan({ afterWelcome: (conn) => conn.sendRaw(big) });
      startSession();
      const first = await peer.connection(0);
      await first.closed;
      expect(first.closeCode).toBe(4000);
    });

    it('an unknown frame type is ignored, the link stays up', async () => {
      peer.plan({ afterWelcome: (conn) => conn.sendRaw('{"type":"future-op","x":1}') });
      const { session } = startSession();
      const conn = await peer.connection(0);
      await connected(session);
      await outbox.append(metrics(3), []);
      await waitFor(() => expect(outbox.pending).toBe(0));
      expect(conn.closeCode).toBeNull();
      expect(peer.connections).toHaveLength(1);
    });
  });
});
