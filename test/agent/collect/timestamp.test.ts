import fc from 'fast-check';
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

  it('gives the same text as a fresh Date for any instant, in any order of calls', () => {
    // Runs of instants within one second, as log entries come: the cache must never leak
    // one second's text into another.
    const instant = fc.integer({ min: 0, max: Date.UTC(9998, 0, 1) });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(instant, fc.integer({ min: 0, max: 3 })), { minLength: 1 }),
        (runs) => {
          for (const [start, extra] of runs) {
            for (let i = 0; i <= extra; i++) {
              const ms = start + i * 7;
              const iso = toLocalIso(ms);
              expect(iso).toMatch(
                /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$/,
              );
              expect(Date.parse(iso)).toBe(ms);
            }
          }
        },
      ),
    );
  });

  it('writes the host offset of each instant, across a daylight-saving change', () => {
    const winter = new Date(2025, 0, 15, 12).getTime();
    const summer = new Date(2025, 6, 15, 12).getTime();
    for (const ms of [winter, summer, winter + 1]) {
      const offset = -new Date(ms).getTimezoneOffset();
      const hhmm = `${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}:${String(Math.abs(offset) % 60).padStart(2, '0')}`;
      const text = toLocalIso(ms);
      expect(text.slice(23)).toBe(offset === 0 ? 'Z' : `${offset < 0 ? '-' : '+'}${hhmm}`);
      expect(Date.parse(text)).toBe(ms);
    }
  });
});
