import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';

/** Trust anchors: the bundled public roots plus the configured CA file, never fewer. */
export async function trustAnchors(caFile: string | undefined): Promise<string[]> {
  const anchors = [...rootCertificates];
  if (caFile) anchors.push(await readFile(caFile, 'utf8'));
  return anchors;
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
  if (raw.startsWith('ERR_SSL') || raw.startsWith('ERR_TLS'))
    return { code: 'tls_failed', tls: true };
  return { code: NET_CODES[raw] ?? 'connection_failed', tls: false };
}
