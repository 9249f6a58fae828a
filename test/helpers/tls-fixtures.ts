// Certificates for TLS policy tests: a CA and leaves that are good, expired, or for
// another host name.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

export interface Issued {
  certPem: string;
  keyPem: string;
}

export interface TestCa {
  caPem: string;
  issue(options: { hosts: string[]; notBefore?: Date; notAfter?: Date }): Issued;
}

function keyPair() {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const key = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) };
}

function certificate(publicKey: forge.pki.PublicKey, cn: string, notBefore: Date, notAfter: Date) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ name: 'commonName', value: cn }]);
  return cert;
}

export function makeCa(name = 'ScopeLink Test CA'): TestCa {
  const now = Date.now();
  const ca = keyPair();
  const caCert = certificate(
    ca.publicKey,
    name,
    new Date(now - 86_400_000),
    new Date(now + 365 * 86_400_000),
  );
  caCert.setIssuer(caCert.subject.attributes);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());
  return {
    caPem: forge.pki.certificateToPem(caCert),
    issue({
      hosts,
      notBefore = new Date(now - 3600_000),
      notAfter = new Date(now + 30 * 86_400_000),
    }) {
      const leaf = keyPair();
      const cert = certificate(leaf.publicKey, hosts[0] ?? 'localhost', notBefore, notAfter);
      cert.setIssuer(caCert.subject.attributes);
      cert.setExtensions([
        { name: 'basicConstraints', cA: false },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })),
        },
      ]);
      cert.sign(ca.privateKey, forge.md.sha256.create());
      return {
        certPem: forge.pki.certificateToPem(cert),
        keyPem: forge.pki.privateKeyToPem(leaf.privateKey),
      };
    },
  };
}
