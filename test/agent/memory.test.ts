import { describe, expect, it } from 'vitest';
import { releaseMemory } from '../../src-agent/memory.ts';

describe('releaseMemory', () => {
  it('collects garbage now, each time it is asked', () => {
    for (let round = 0; round < 2; round++) {
      let garbage: string[] | null = Array.from({ length: 200_000 }, (_, i) =>
        `item ${i}`.repeat(4),
      );
      expect(garbage.length).toBe(200_000);
      garbage = null;
      const before = process.memoryUsage().heapUsed;
      releaseMemory();
      // About 30 MB of strings and their array were unreachable.
      expect(before - process.memoryUsage().heapUsed).toBeGreaterThan(10_000_000);
    }
  });
});
