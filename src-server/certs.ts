// A private CA and a server certificate for the reference server, so agents can be pointed at a
// CA file instead of being told to skip verification.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import forge from 'node-forge';

export interface TlsMaterial {
  caFile: string;
  certFile: string;
  keyFile: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

const VALIDITY_YEARS = 2;

export async function ensureTls(
  dir: string,
  hosts: readonly string[] = ['127.0.0.1', 'localhost'],
): Promise<TlsMaterial> {
  const caFile = path.resolve(dir, 'ca.pem');
  const certFile = path.resolve(dir, 'server.pem');
  const keyFile = path.resolve(dir, 'server-key.pem');
  const files = { caFile, certFile, keyFile };

  if ([caFile, certFile, keyFile].every((file) => existsSync(file))) {
    const [caPem, certPem, keyPem] = await Promise.all(
      [caFile, certFile, keyFile].map((file) => readFile(file, 'utf8')),
    );
    return { ...files, caPem: caPem!, certPem: certPem!, keyPem: keyPem! };
  }

  const ca = newKeyPair();
  const caCert = newCertificate(ca.publicKey, 'ScopeLink Reference Server CA');
  caCert.setIssuer(caCert.subject.attributes);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const server = newKeyPair();
  const serverCert = newCertificate(server.publicKey, hosts[0] ?? 'localhost');
  serverCert.setIssuer(caCert.subject.attributes);
  serverCert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: hosts.map((host) =>
        isIP(host) ? { type: 7, ip: host } : { type: 2, value: host },
      ),
    },
    { name: 'subjectKeyIdentifier' },
    // Lets verifiers pick the issuing CA by key id rather than by name alone.
    {
      name: 'authorityKeyIdentifier',
      keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes(),
    },
  ]);
  serverCert.sign(ca.privateKey, forge.md.sha256.create());

  const caPem = forge.pki.certificateToPem(caCert);
  const certPem = forge.pki.certificateToPem(serverCert);
  const keyPem = forge.pki.privateKeyToPem(server.privateKey);

  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(keyFile, keyPem, { mode: 0o600 });
  await writeFile(certFile, certPem);
  // Written last, so a run interrupted midway leaves an incomplete set that the next run replaces.
  await writeFile(caFile, caPem);
  return { ...files, caPem, certPem, keyPem };
}

// Node's generator is native and much faster than node-forge's pure-JS one.
function newKeyPair(): {
  publicKey: forge.pki.rsa.PublicKey;
  privateKey: forge.pki.rsa.PrivateKey;
} {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey,
    privateKey: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey,
  };
}

function newCertificate(
  publicKey: forge.pki.rsa.PublicKey,
  commonName: string,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive 128-bit serial: the top bit cleared keeps the DER integer from reading as negative.
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  cert.serialNumber = serial.toString('hex');
  // Backdated a minute so a peer whose clock is slightly behind still accepts a fresh certificate.
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore);
  notAfter.setFullYear(notAfter.getFullYear() + VALIDITY_YEARS);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  return cert;
}
