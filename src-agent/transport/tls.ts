// The agent's TLS policy: TLS 1.2 or newer, the chain verified against the operating
// system's trust store plus an optional CA file, the host name checked, and optionally
// the server's public key pinned. Nothing here can be switched off.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import tls from 'node:tls';

export interface TlsPolicy {
  ca: string[];
  /** Base64 SHA-256 of the server's SubjectPublicKeyInfo; any one may match. */
  pins: string[];
}

// Debian and its kin; on Windows and macOS, Node 22 (as in Electron) reads the OS store itself.
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];

/** Trust anchors: the OS store (or Node's bundled roots) plus the configured CA file. */
export async function trustAnchors(caFile: string | undefined): Promise<string[]> {
  const anchors = [...(await systemAnchors())];
  if (caFile) anchors.push(await readFile(caFile, 'utf8'));
  return anchors;
}

async function systemAnchors(): Promise<readonly string[]> {
  const fromOs = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (fromOs) return [...fromOs('system'), ...fromOs('bundled')];
  for (const file of SYSTEM_BUNDLES) {
    const pem = await readFile(file, 'utf8').catch(() => null);
    if (pem) return [...tls.rootCertificates, ...notIn(tls.rootCertificates, pem)];
  }
  return tls.rootCertificates;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle that `known` lacks. A distribution's bundle mostly repeats
 * Node's roots, and each certificate parsed twice made the secure context twice as slow to
 * build (about 40 ms of the agent's start-up).
 */
export function notIn(known: readonly string[], bundle: string): string[] {
  const bare = (pem: string) => pem.replace(/\s+/g, '');
  const seen = new Set(known.map(bare));
  return (bundle.match(PEM_CERTIFICATE) ?? []).filter((pem) => !seen.has(bare(pem)));
}

export const spkiPin = (cert: { pubkey?: Buffer }): string =>
  createHash('sha256')
    .update(cert.pubkey ?? Buffer.alloc(0))
    .digest('base64');

const contexts = new WeakMap<readonly string[], tls.SecureContext>();

/**
 * One secure context per set of trust anchors. Passing `ca` to each connection parsed the
 * whole OS store again (about 90 ms of the main thread) on every reconnect attempt.
 */
export function secureContextFor(ca: readonly string[]): tls.SecureContext {
  let context = contexts.get(ca);
  if (!context) {
    context = tls.createSecureContext({ ca: [...ca], minVersion: 'TLSv1.2' });
    contexts.set(ca, context);
  }
  return context;
}

/** Options for `tls.connect` that enforce the policy, to `host`. */
export function tlsConnectOptions(policy: TlsPolicy, host: string): tls.ConnectionOptions {
  return {
    secureContext: secureContextFor(policy.ca),
    minVersion: 'TLSv1.2',
    // SNI carries names only, never addresses.
    servername: isIP(host) ? undefined : host,
    checkServerIdentity: (name, cert) => {
      const mismatch = tls.checkServerIdentity(name, cert);
      if (mismatch) return mismatch;
      if (policy.pins.length > 0 && !policy.pins.includes(spkiPin(cert))) {
        return Object.assign(
          new Error(
            `the server's public key (${spkiPin(cert)}) matches none of the configured pins`,
          ),
          { code: 'ERR_SCOPELINK_PIN_MISMATCH' },
        );
      }
      return undefined;
    },
  };
}

const TLS_CODES: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'tls_untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'tls_untrusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'tls_untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'tls_untrusted',
  UNABLE_TO_GET_ISSUER_CERT: 'tls_untrusted',
  CERT_UNTRUSTED: 'tls_untrusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'tls_hostname',
  CERT_HAS_EXPIRED: 'tls_expired',
  CERT_NOT_YET_VALID: 'tls_expired',
  ERR_SCOPELINK_PIN_MISMATCH: 'tls_pin_mismatch',
};

const NET_CODES: Record<string, string> = {
  ECONNREFUSED: 'server_unreachable',
  ECONNRESET: 'connection_reset',
  ETIMEDOUT: 'server_unreachable',
  EHOSTUNREACH: 'server_unreachable',
  ENETUNREACH: 'server_unreachable',
  ENOTFOUND: 'dns_failed',
  EAI_AGAIN: 'dns_failed',
};

/** A stable code for a connection failure, and whether it is a TLS verification failure. */
export function classifyConnectError(err: NodeJS.ErrnoException): { code: string; tls: boolean } {
  const raw = err.code ?? '';
  if (TLS_CODES[raw]) return { code: TLS_CODES[raw], tls: true };
  // A version refusal arrives as an alert (EPROTO when it interrupts a write).
  if (
    /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION_NUMBER/.test(raw) ||
    /protocol version|unsupported protocol/i.test(err.message)
  ) {
    return { code: 'tls_version', tls: true };
  }
  if (raw === 'EPROTO') return { code: 'tls_failed', tls: true };
  if (raw.startsWith('ERR_SSL') || raw.startsWith('ERR_TLS'))
    return { code: 'tls_failed', tls: true };
  return { code: NET_CODES[raw] ?? 'connection_failed', tls: false };
}
