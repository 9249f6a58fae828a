import { describe, expect, it } from 'vitest';
import {
  ProtocolError,
  decodeServerFrame,
  decodeAgentFrame,
} from '../../../src-agent/transport/codec.ts';

describe('codec', () => {
  it('decodes a welcome with defaults', () => {
    expect(decodeServerFrame('{"type":"welcome","protocol":1,"session":"s","ackedSeq":5}')).toEqual(
      {
        type: 'welcome',
        protocol: 1,
        session: 's',
        ackedSeq: 5,
        heartbeatSec: 30,
        maxBatchItems: 500,
      },
    );
  });

  it('ignores unknown frame types', () => {
    expect(decodeServerFrame('{"type":"future-thing","x":1}')).toBeNull();
  });

  it('rejects malformed frames with a ProtocolError naming the field', () => {
    expect(() => decodeServerFrame('{not json')).toThrow(ProtocolError);
    expect(() => decodeServerFrame('[1]')).toThrow(/not a JSON object/);
    expect(() => decodeServerFrame('{"type":"ack","upTo":-1}')).toThrow(/upTo/);
  });

  it('validates items: seq, timestamp with offset, kind', () => {
    const item = {
      seq: 1,
      ts: '2026-11-30T08:00:01.250+01:00',
      source: 's',
      name: 'n',
      value: 1,
      kind: 'metric',
    };
    expect(decodeAgentFrame(JSON.stringify({ type: 'items', items: [item] }))).toMatchObject({
      type: 'items',
    });
    expect(() =>
      decodeAgentFrame(
        JSON.stringify({ type: 'items', items: [{ ...item, ts: '2026-11-30 08:00' }] }),
      ),
    ).toThrow(/items\.0\.ts/);
    expect(() =>
      decodeAgentFrame(JSON.stringify({ type: 'items', items: [{ ...item, kind: 'x' }] })),
    ).toThrow(ProtocolError);
  });
});
