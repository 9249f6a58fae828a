import { describe, expect, it } from 'vitest';
import { parseTimestamp, toLocalIso } from '../../../src-agent/collect/timestamp.ts';

describe('parseTimestamp', () => {
  it('reads local times in the host zone', () => {
    const ms = parseTimestamp('2025-05-11 08:00:04.236', 'ymd', 'local');
    expect(ms).toBe(new Date(2025, 4, 11, 8, 0, 4, 236).getTime());
  });

  it('honours US date order', () => {
    expect(parseTimestamp('08/09/2025 08:06:01', 'mdy', 'utc')).toBe(Date.UTC(2025, 7, 9, 8, 6, 1));
    expect(parseTimestamp('08/09/2025 08:06:01', 'dmy', 'utc')).toBe(Date.UTC(2025, 8, 8, 8, 6, 1));
  });

  it('takes an offset in the text over the zone, with 7 fractional digits', () => {
    expect(parseTimestamp('2025-06-23T08:00:04.9985020+01:00', 'ymd', 'local')).toBe(
      Date.UTC(2025, 5, 23, 7, 0, 4, 998),
    );
    expect(parseTimestamp('2025-06-23T08:10:35Z', 'ymd', 'local')).toBe(
      Date.UTC(2025, 5, 23, 8, 10, 35),
    );
  });

  it('refuses what is not a timestamp', () => {
    expect(parseTimestamp('2025-13-40 99:00:00', 'ymd', 'utc')).toBeNaN();
    expect(parseTimestamp('yesterday', 'ymd', 'utc')).toBeNaN();
  });
});

describe('toLocalIso', () => {
  it('round-trips an instant with the host offset', () => {
    const ms = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
    const iso = toLocalIso(ms);
    expect(iso).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$/);
    expect(Date.parse(iso)).toBe(ms);
  });
});
