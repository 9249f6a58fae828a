import { describe, expect, it } from 'vitest';
import {
  digestAuthorization,
  parseDigestChallenge,
  parseParams,
} from '../../../src-agent/transport/proxy/digest.ts';
import {
  authenticateMessage,
  negotiateMessage,
  parseChallenge,
} from '../../../src-agent/transport/proxy/ntlm.ts';

describe('Digest (RFC 7616, section 3.9.1 example)', () => {
  const header = (algorithm: string) =>
    `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, ` +
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
  const credentials = { username: 'Mufasa', password: 'Circle of Life' };
  const cnonce = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
  const responseOf = (auth: string) => parseParams(auth.replace(/^Digest /, '')).response;

  it('computes the RFC response for MD5', () => {
    const challenge = parseDigestChallenge(header('MD5'))!;
    const auth = digestAuthorization(challenge, credentials, 'GET', '/dir/index.html', cnonce);
    expect(responseOf(auth)).toBe('8ca523f5e9506fed4657c9700eebdbec');
    expect(auth).toContain('qop=auth, nc=00000001');
    expect(auth).toContain('opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"');
  });

  it('computes the RFC response for SHA-256', () => {
    const challenge = parseDigestChallenge(header('SHA-256'))!;
    const auth = digestAuthorization(challenge, credentials, 'GET', '/dir/index.html', cnonce);
    expect(responseOf(auth)).toBe(
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });

  it('quotes user names with quotes and backslashes safely', () => {
    const challenge = parseDigestChallenge('Digest realm="r", nonce="n", qop="auth"')!;
    const auth = digestAuthorization(
      challenge,
      { username: 'LAB\\"x"', password: 'p' },
      'CONNECT',
      'h:443',
    );
    expect(parseParams(auth.replace(/^Digest /, '')).username).toBe('LAB\\"x"');
  });

  it('is not fooled by other schemes', () => {
    expect(parseDigestChallenge('Basic realm="x"')).toBeNull();
    expect(parseDigestChallenge('Digest qop="auth"')).toBeNull();
  });
});

describe('NTLMv2 ([MS-NLMP] 4.2.4 test vectors)', () => {
  // MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server", MsvAvEOL.
  const targetInfo = Buffer.concat([
    Buffer.from([0x02, 0x00, 0x0c, 0x00]),
    Buffer.from('Domain', 'utf16le'),
    Buffer.from([0x01, 0x00, 0x0c, 0x00]),
    Buffer.from('Server', 'utf16le'),
    Buffer.from([0, 0, 0, 0]),
  ]);
  const challengeMessage = () => {
    const header = Buffer.alloc(48);
    Buffer.from('NTLMSSP\0', 'latin1').copy(header);
    header.writeUInt32LE(2, 8);
    header.writeUInt32LE(0xe28a8233, 20);
    Buffer.from('0123456789abcdef', 'hex').copy(header, 24);
    header.writeUInt16LE(targetInfo.length, 40);
    header.writeUInt16LE(targetInfo.length, 42);
    header.writeUInt32LE(48, 44);
    return Buffer.concat([header, targetInfo]).toString('base64');
  };
  const field = (msg: Buffer, at: number) =>
    msg.subarray(msg.readUInt32LE(at + 4), msg.readUInt32LE(at + 4) + msg.readUInt16LE(at));

  it('reads the challenge and answers with the specified NTProofStr and LMv2 response', () => {
    const challenge = parseChallenge(challengeMessage());
    expect(challenge.serverChallenge.toString('hex')).toBe('0123456789abcdef');
    expect(challenge.targetInfo.equals(targetInfo)).toBe(true);
    const type3 = Buffer.from(
      authenticateMessage(
        challenge,
        { username: 'User', password: 'Password', domain: 'Domain', workstation: 'COMPUTER' },
        Buffer.from('aaaaaaaaaaaaaaaa', 'hex'),
        // FILETIME zero, as in the specification's example.
        -11_644_473_600_000,
      ),
      'base64',
    );
    expect(type3.readUInt32LE(8)).toBe(3);
    expect(field(type3, 20).subarray(0, 16).toString('hex')).toBe(
      '68cd0ab851e51c96aabc927bebef6a1c',
    );
    expect(field(type3, 12).toString('hex')).toBe(
      '86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa',
    );
    expect(field(type3, 28).toString('utf16le')).toBe('Domain');
    expect(field(type3, 36).toString('utf16le')).toBe('User');
  });

  it('builds a negotiate message and refuses what is not a challenge', () => {
    const type1 = Buffer.from(negotiateMessage(), 'base64');
    expect(type1.subarray(0, 8).toString('latin1')).toBe('NTLMSSP\0');
    expect(type1.readUInt32LE(8)).toBe(1);
    expect(() => parseChallenge(negotiateMessage())).toThrow(/not an NTLM challenge/);
    expect(() => parseChallenge('AAAA')).toThrow();
  });
});
