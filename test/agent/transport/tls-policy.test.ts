// The agent refuses every TLS server it should not trust, each with its own code, and
// never falls back to an unverified connection.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src-agent/log.ts';
import { Outbox } from '../../../src-agent/outbox/outbox.ts';
import { notIn, spkiPin, tlsConnectOptions } from '../../../src-agent/transport/tls.ts';
import { Session } from '../../../src-agent/transport/session.ts';
import { makeCa, type Issued, type TestCa } from '../../helpers/tls-fixtures.ts';

let dir: string;
let ca: TestCa;
let good: Issued;
const servers: tls.Server[] = [];
let session: Session | null = null;
let outbox: Outbox | null = null;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'tls-'));
  ca = makeCa();
  good = ca.issue({ hosts: ['127.0.0.1', 'localhost'] });
});
afterEach(async () => {
  await session?.stop(0);
  session = null;
  await outbox?.close();
  outbox = null;
  for (const s of servers.splice(0)) s.close();
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function serve(options: tls.TlsOptions): Promise<number> {
  const server = tls.createServer(options, (socket) => socket.end());
  server.on('tlsClientError', () => undefined);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** The code the agent's session reports when pointed at `url`. */
async function refusal(url: string, { trust = [ca.caPem], pins = [] as string[] } = {}) {
  outbox = await Outbox.open(path.join(dir, `o-${Math.random()}.db`));
  session = new Session({
    url,
    token: 't',
    device: { id: 'EM-1', kind: 'em' },
    agentVersion: '0.0.0',
    ca: trust,
    pins,
    outbox,
    log: silentLogger(),
    handleRequest: async () => ({ ok: true }),
    random: () => 0,
  });
  session.start();
  const states: string[] = [];
  session.on('state', (state, error) => states.push(`${state}:${error?.code}`));
  await vi.waitFor(() => expect(session!.state, states.join(' ')).toBe('error'), { timeout: 5000 });
  return session.lastError?.code;
}

describe('TLS policy', () => {
  it('accepts a server whose certificate chains to a trusted CA (the control case)', async () => {
    const port = await serve({ cert: good.certPem, key: good.keyPem });
    const socket = tls.connect({
      ...tlsConnectOptions({ ca: [ca.caPem], pins: [] }, '127.0.0.1'),
      host: '127.0.0.1',
      port,
    });
    await new Promise<void>((resolve, reject) =>
      socket.once('secureConnect', resolve).once('error', reject),
    );
    expect(socket.authorized).toBe(true);
    expect(spkiPin(socket.getPeerCertificate())).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    socket.destroy();
  });

  it('refuses an untrusted CA with tls_untrusted', async () => {
    const port = await serve({ cert: good.certPem, key: good.keyPem });
    expect(
      await refusal(`wss://127.0.0.1:${port}/agent/v1`, { trust: [makeCa('Other CA').caPem] }),
    ).toBe('tls_untrusted');
  });

  it('refuses a certificate for another host name with tls_hostname', async () => {
    const other = ca.issue({ hosts: ['service.example.com'] });
    const port = await serve({ cert: other.certPem, key: other.keyPem });
    expect(await refusal(`wss://127.0.0.1:${port}/agent/v1`)).toBe('tls_hostname');
  });

  it('refuses an expired certificate with tls_expired', async () => {
    const expired = ca.issue({
      hosts: ['127.0.0.1'],
      notBefore: new Date(Date.now() - 30 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const port = await serve({ cert: expired.certPem, key: expired.keyPem });
    expect(await refusal(`wss://127.0.0.1:${port}/agent/v1`)).toBe('tls_expired');
  });

  it('refuses a valid certificate whose key is not pinned with tls_pin_mismatch', async () => {
    const port = await serve({ cert: good.certPem, key: good.keyPem });
    const otherKey = ca.issue({ hosts: ['127.0.0.1'] });
    const wrongPin = spkiPin({
      pubkey: new X509Certificate(otherKey.certPem).publicKey.export({
        type: 'spki',
        format: 'der',
      }),
    });
    expect(await refusal(`wss://127.0.0.1:${port}/agent/v1`, { pins: [wrongPin] })).toBe(
      'tls_pin_mismatch',
    );
  });

  it('refuses a server that speaks only TLS 1.1 with tls_version', async () => {
    const port = await serve({
      cert: good.certPem,
      key: good.keyPem,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      // OpenSSL 3 refuses TLS 1.1 at its default security level even as a test server.
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    expect(await refusal(`wss://127.0.0.1:${port}/agent/v1`)).toBe('tls_version');
  });
});

describe('trust anchors', () => {
  it('adds from a system bundle only the certificates Node does not bundle', () => {
    const own = ca.caPem;
    // A bundle as distributions write it: Node's roots in another layout, and one of its own.
    const relaid = (pem: string) => pem.replace(/\n/g, '\r\n');
    const bundle = `# comment\n${tls.rootCertificates.slice(0, 5).map(relaid).join('\n')}\n${own}`;
    const added = notIn(tls.rootCertificates, bundle);
    expect(added).toHaveLength(1);
    expect(new X509Certificate(added[0]!).fingerprint256).toBe(
      new X509Certificate(own).fingerprint256,
    );
  });
});
