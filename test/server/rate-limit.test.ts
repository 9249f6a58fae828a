import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src-server/rate-limit.ts';

describe('TokenBucket', () => {
  it('lets a burst through, then asks to wait in proportion to the excess', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 1000, () => now);
    expect(bucket.take(1000)).toBe(0);
    expect(bucket.take(500)).toBe(500);
    now += 500;
    expect(bucket.take(0)).toBe(0);
    now += 1000;
    expect(bucket.take(1000)).toBe(0);
  });

  it('never stores more than the burst', () => {
    let now = 0;
    const bucket = new TokenBucket(100, 200, () => now);
    now += 60_000;
    expect(bucket.take(200)).toBe(0);
    expect(bucket.take(100)).toBe(1000);
  });
});
