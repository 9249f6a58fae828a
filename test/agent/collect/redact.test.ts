import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { redactMessage } from '../../../src-agent/collect/redact.ts';

describe('redactMessage', () => {
  it('replaces a Windows path inside a message, spaces and all', () => {
    expect(
      redactMessage('Failed to save image C:\\Users\\lab-admin2\\Desktop\\cells_54.tif: disk full'),
    ).toBe('Failed to save image <path>: disk full');
    expect(redactMessage('Cannot open D:\\Data\\Project 8\\a b.czi')).toBe('Cannot open <path>');
  });

  it('replaces UNC and home paths', () => {
    expect(redactMessage('copy to \\\\nas01\\share\\jdoe\\x.tif failed')).not.toContain('jdoe');
    expect(redactMessage('wrote /home/jdoe/run.log')).toBe('wrote <path>');
  });

  it('replaces drive paths written with forward slashes', () => {
    expect(redactMessage('Saved to D:/Data/Exp_42/img.czi')).toBe('Saved to <path>');
    expect(redactMessage('open c:/users/jdoe/x.txt failed')).toBe('open <path>');
  });

  it('removes a profile folder named without its drive, in any case', () => {
    expect(redactMessage('HOMEPATH is \\Users\\jdoe\\AppData')).toBe('HOMEPATH is <path>\\AppData');
    expect(redactMessage('moved to \\USERS\\jdoe')).not.toContain('jdoe');
    expect(redactMessage('wrote /users/jdoe/run.log')).toBe('wrote <path>');
  });

  it('never lets a user name through in the places it knows', () => {
    // Names carry a digit and the text around them has none: a name found is one let through.
    const name = fc.stringMatching(/^[a-z][a-z._-]{1,8}[0-9]{1,3}$/);
    const around = fc.stringMatching(/^[A-Za-z ,.;:()'"=_-]{0,20}$/);
    const places = [
      (n: string) => `C:\\Users\\${n}\\Pictures\\a.czi`,
      (n: string) => `c:/users/${n}/Documents`,
      (n: string) => `\\Users\\${n}\\AppData`,
      (n: string) => `\\\\nas01\\share\\${n}\\x.tif`,
      (n: string) => `D:\\Data\\${n}\\Exp 1.czi`,
      (n: string) => `D:/Data/${n}/Exp 1.czi`,
      (n: string) => `/home/${n}/run.log`,
      (n: string) => `/Users/${n}`,
      (n: string) => `user=${n}`,
      (n: string) => `username="${n}"`,
      (n: string) => `Login: ${n}`,
      (n: string) => `LAB\\${n}`,
    ];
    fc.assert(
      fc.property(name, around, around, fc.nat(places.length - 1), (n, before, after, i) => {
        expect(redactMessage(`${before} ${places[i]!(n)} ${after}`)).not.toContain(n);
      }),
      { numRuns: 3000 },
    );
  });

  it('drops the account of a DOMAIN\\name, not registry keys or paths', () => {
    expect(redactMessage("User 'CORP\\m.tanaka' logged on.")).toBe(
      "User 'CORP\\<user>' logged on.",
    );
    expect(redactMessage('Logon by LAB\\jdoe')).toBe('Logon by LAB\\<user>');
    for (const text of [
      'cannot open HKLM\\SOFTWARE',
      'cannot open HKEY_LOCAL_MACHINE\\SOFTWARE\\Carl Zeiss',
      'folder SmartSEM\\Log missing',
      'see ZEN\\Data\\x',
    ]) {
      expect(redactMessage(text)).toBe(text);
    }
  });

  it('drops user names given as attributes', () => {
    const out = redactMessage('EMSERVER_USER_LOGGED_ON user=schmidt_k ok; username="m.tanaka"');
    expect(out).not.toContain('schmidt_k');
    expect(out).not.toContain('m.tanaka');
    expect(out).toContain('user=<user>');
  });

  it('drops user names after a colon, in every spelling it knows', () => {
    for (const key of ['user', 'Username', 'login', 'ACCOUNT']) {
      expect(redactMessage(`session opened, ${key}: jdoe`)).toBe(`session opened, ${key}: <user>`);
    }
  });

  it('leaves ordinary messages alone', () => {
    for (const text of [
      'API_E_REMOTING_EMSERVER_NOT_RUNNING (2030) remoting server not reachable',
      'manual at https://service.example.com/docs/em, ratio 2:1',
    ]) {
      expect(redactMessage(text)).toBe(text);
    }
  });
});
