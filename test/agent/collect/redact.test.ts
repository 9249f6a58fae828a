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
    const text = 'API_E_REMOTING_EMSERVER_NOT_RUNNING (2030) remoting server not reachable';
    expect(redactMessage(text)).toBe(text);
  });
});
