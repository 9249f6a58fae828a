import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTls, type TlsMaterial } from '../../src-server/certs.ts';

describe('ensureTls', () => {
  let dir: string;
  let tls: TlsMaterial;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'scopelink-certs-'));
    tls = await ensureTls(dir, ['127.0.0.1', 'localhost', 'scopelink.test']);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('issues the server certificate from a CA that verifies it', () => {
    const ca = new X509Certificate(tls.caPem);
    const server = new X509Certificate(tls.certPem);

    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.verify(server.publicKey)).toBe(false);
  });

  it('names every host in the subjectAltName', () => {
    const server = new X509Certificate(tls.certPem);

    expect(server.subjectAltName?.split(', ').sort()).toEqual([
      'DNS:localhost',
      'DNS:scopelink.test',
      'IP Address:127.0.0.1',
    ]);
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('scopelink.test')).toBe('scopelink.test');
  });

  it('pairs the certificate with its private key and keeps the key private', async () => {
    const server = new X509Certificate(tls.certPem);

    expect(server.checkPrivateKey(createPrivateKey(tls.keyPem))).toBe(true);
    expect((await stat(tls.keyFile)).mode & 0o777).toBe(0o600);
  });

  it('is valid for two years', () => {
    const server = new X509Certificate(tls.certPem);
    const years =
      (Date.parse(server.validTo) - Date.parse(server.validFrom)) / (365.25 * 24 * 3600 * 1000);

    expect(years).toBeCloseTo(2, 1);
  });

  it('reuses what an earlier run wrote', async () => {
    const again = await ensureTls(dir);

    expect(again).toEqual(tls);
    expect(path.isAbsolute(again.caFile)).toBe(true);
  });
});
