import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../src-agent/transport/backoff.ts';

describe('Backoff', () => {
  it('doubles from 1 s to a 5 minute cap, jittered within the upper half', () => {
    const low = new Backoff(1000, 300_000, () => 0);
    const high = new Backoff(1000, 300_000, () => 1);
    const lows = Array.from({ length: 12 }, () => low.next());
    const highs = Array.from({ length: 12 }, () => high.next());
    expect(highs.slice(0, 4)).toEqual([1000, 2000, 4000, 8000]);
    expect(lows.slice(0, 2)).toEqual([500, 1000]);
    expect(highs.at(-1)).toBe(300_000);
    expect(lows.at(-1)).toBe(150_000);
  });

  it('starts again after reset', () => {
    const b = new Backoff(1000, 300_000, () => 1);
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(1000);
  });
});
