// HTTP Digest access authentication (RFC 7616) for the proxy's CONNECT: MD5 and
// SHA-256, with and without -sess, qop=auth.
import { createHash, randomBytes } from 'node:crypto';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  qop: string[];
  algorithm: string;
  opaque?: string;
  stale: boolean;
  userhash: boolean;
}

/** The parameters of one `Digest ...` challenge, or null when it is not one. */
export function parseDigestChallenge(value: string): DigestChallenge | null {
  const m = /^Digest\s+(.*)$/i.exec(value);
  if (!m) return null;
  const params = parseParams(m[1]!);
  if (!params.realm || !params.nonce) return null;
  return {
    realm: params.realm,
    nonce: params.nonce,
    qop: (params.qop ?? '')
      .split(',')
      .map((q) => q.trim().toLowerCase())
      .filter(Boolean),
    algorithm: (params.algorithm ?? 'MD5').toUpperCase(),
    opaque: params.opaque,
    stale: (params.stale ?? '').toLowerCase() === 'true',
    userhash: (params.userhash ?? '').toLowerCase() === 'true',
  };
}

export function isSupportedAlgorithm(algorithm: string): boolean {
  return /^(MD5|SHA-256)(-SESS)?$/.test(algorithm);
}

export function digestAuthorization(
  challenge: DigestChallenge,
  credentials: { username: string; password: string },
  method: string,
  uri: string,
  cnonce = randomBytes(16).toString('hex'),
): string {
  const base = challenge.algorithm.replace(/-SESS$/, '');
  const hash = (s: string) =>
    createHash(base === 'SHA-256' ? 'sha256' : 'md5')
      .update(s, 'utf8')
      .digest('hex');
  const nc = '00000001';
  let ha1 = hash(`${credentials.username}:${challenge.realm}:${credentials.password}`);
  if (challenge.algorithm.endsWith('-SESS')) ha1 = hash(`${ha1}:${challenge.nonce}:${cnonce}`);
  const ha2 = hash(`${method}:${uri}`);
  const useQop = challenge.qop.includes('auth');
  const response = useQop
    ? hash(`${ha1}:${challenge.nonce}:${nc}:${cnonce}:auth:${ha2}`)
    : hash(`${ha1}:${challenge.nonce}:${ha2}`);
  const username = challenge.userhash
    ? hash(`${credentials.username}:${challenge.realm}`)
    : credentials.username;
  const parts = [
    `username=${quote(username)}`,
    `realm=${quote(challenge.realm)}`,
    `nonce=${quote(challenge.nonce)}`,
    `uri=${quote(uri)}`,
    `algorithm=${challenge.algorithm}`,
    `response=${quote(response)}`,
  ];
  if (useQop) parts.push('qop=auth', `nc=${nc}`, `cnonce=${quote(cnonce)}`);
  if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`);
  if (challenge.userhash) parts.push('userhash=true');
  return `Digest ${parts.join(', ')}`;
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** `a=b, c="d, e"` into {a: 'b', c: 'd, e'}; keys lower-cased. */
export function parseParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0] === '') break;
    out[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '');
  }
  return out;
}
