// NTLMv2 for proxy authentication ([MS-NLMP]): the three messages of the handshake.
// Node's OpenSSL 3 has no MD4, so the NT hash comes from js-md4 (pure JavaScript);
// HMAC-MD5 is still OpenSSL's.
import { createHmac, randomBytes } from 'node:crypto';
import md4 from 'js-md4';

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');

const NEGOTIATE_UNICODE = 0x00000001;
const NEGOTIATE_OEM = 0x00000002;
const FLAGS =
  NEGOTIATE_UNICODE |
  NEGOTIATE_OEM |
  0x00000004 | // REQUEST_TARGET
  0x00000200 | // NEGOTIATE_NTLM
  0x00008000 | // NEGOTIATE_ALWAYS_SIGN
  0x00080000 | // NEGOTIATE_EXTENDED_SESSIONSECURITY
  0x00800000 | // NEGOTIATE_TARGET_INFO
  0x20000000; // NEGOTIATE_128

export interface NtlmChallenge {
  flags: number;
  serverChallenge: Buffer;
  targetInfo: Buffer;
  targetName: string;
}

export class NtlmError extends Error {}

/** Type 1: what the client can do. */
export function negotiateMessage(): string {
  const msg = Buffer.alloc(32);
  SIGNATURE.copy(msg, 0);
  msg.writeUInt32LE(1, 8);
  msg.writeUInt32LE(FLAGS >>> 0, 12);
  // Empty domain and workstation buffers: offsets past the header.
  msg.writeUInt32LE(32, 20);
  msg.writeUInt32LE(32, 28);
  return msg.toString('base64');
}

/** Type 2: the server's challenge, from `Proxy-Authenticate: NTLM <base64>`. */
export function parseChallenge(base64: string): NtlmChallenge {
  const msg = Buffer.from(base64, 'base64');
  if (msg.length < 32 || !msg.subarray(0, 8).equals(SIGNATURE) || msg.readUInt32LE(8) !== 2) {
    throw new NtlmError('not an NTLM challenge message');
  }
  const flags = msg.readUInt32LE(20);
  const unicode = (flags & 0x1) !== 0;
  // Both fields are taken as absent when out of bounds. TargetName is informational (NTLMv2
  // takes the domain from the credentials) and Squid's ntlm_fake_auth fills its offset with
  // garbage; older 40-byte challenges put their payload where TargetInfoFields would be, even when
  // they echo NEGOTIATE_TARGET_INFO. A real server that needs TargetInfo then rejects the answer,
  // which reads as a credentials problem rather than a parse error.
  const targetName = readBuffer(msg, 12);
  const targetInfo =
    (flags & 0x00800000) !== 0 && msg.length >= 48 ? readBuffer(msg, 40) : Buffer.alloc(0);
  return {
    flags,
    serverChallenge: Buffer.from(msg.subarray(24, 32)),
    targetInfo,
    targetName: targetName.toString(unicode ? 'utf16le' : 'latin1'),
  };
}

/** A payload field, or nothing when its offset and length point outside the message. */
function readBuffer(msg: Buffer, at: number): Buffer {
  const length = msg.readUInt16LE(at);
  const offset = msg.readUInt32LE(at + 4);
  if (offset + length > msg.length) return Buffer.alloc(0);
  return Buffer.from(msg.subarray(offset, offset + length));
}

export interface NtlmCredentials {
  username: string;
  password: string;
  domain: string;
  workstation?: string;
}

/** Type 3: the NTLMv2 answer to the challenge. */
export function authenticateMessage(
  challenge: NtlmChallenge,
  credentials: NtlmCredentials,
  clientChallenge: Buffer = randomBytes(8),
  now: number = Date.now(),
): string {
  const ntHash = Buffer.from(md4.arrayBuffer(Buffer.from(credentials.password, 'utf16le')));
  const ntowfv2 = hmacMd5(
    ntHash,
    Buffer.from(credentials.username.toUpperCase() + credentials.domain, 'utf16le'),
  );
  const timestamp = Buffer.alloc(8);
  // FILETIME: 100 ns ticks since 1601-01-01.
  timestamp.writeBigUInt64LE((BigInt(now) + 11_644_473_600_000n) * 10_000n);
  const blob = Buffer.concat([
    Buffer.from([0x01, 0x01, 0, 0, 0, 0, 0, 0]),
    timestamp,
    clientChallenge,
    Buffer.alloc(4),
    challenge.targetInfo,
    Buffer.alloc(4),
  ]);
  const ntProof = hmacMd5(ntowfv2, Buffer.concat([challenge.serverChallenge, blob]));
  const ntResponse = Buffer.concat([ntProof, blob]);
  const lmResponse = Buffer.concat([
    hmacMd5(ntowfv2, Buffer.concat([challenge.serverChallenge, clientChallenge])),
    clientChallenge,
  ]);
  const fields = [
    lmResponse,
    ntResponse,
    Buffer.from(credentials.domain, 'utf16le'),
    Buffer.from(credentials.username, 'utf16le'),
    Buffer.from(credentials.workstation ?? '', 'utf16le'),
    Buffer.alloc(0), // no session key: the tunnel is not signed or sealed by NTLM
  ];
  const header = Buffer.alloc(64);
  SIGNATURE.copy(header, 0);
  header.writeUInt32LE(3, 8);
  let offset = header.length;
  fields.forEach((field, i) => {
    const at = 12 + i * 8;
    header.writeUInt16LE(field.length, at);
    header.writeUInt16LE(field.length, at + 2);
    header.writeUInt32LE(offset, at + 4);
    offset += field.length;
  });
  // The strings above are UTF-16LE whatever the challenge offered: say so, and only so. A server
  // that sees OEM set (Squid's NTLM helpers test it first) would read "LAB" as "L".
  header.writeUInt32LE(((challenge.flags & FLAGS & ~NEGOTIATE_OEM) | NEGOTIATE_UNICODE) >>> 0, 60);
  return Buffer.concat([header, ...fields]).toString('base64');
}

function hmacMd5(key: Buffer, data: Buffer): Buffer {
  return createHmac('md5', key).update(data).digest();
}
