import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  itemTimestamp,
  parseByPattern,
  parseTimestamp,
  toLocalIso,
} from '../../../src-agent/collect/timestamp.ts';

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

describe('the fixed-width reading', () => {
  it('agrees with the general pattern on every text, valid or not', () => {
    // Mostly well-formed pieces, now and then a wrong one: every branch of both readings.
    const mostly = <T>(usual: fc.Arbitrary<T>, odd: fc.Arbitrary<T>) =>
      fc.oneof({ arbitrary: usual, weight: 12 }, { arbitrary: odd, weight: 1 });
    // In range mostly, so that most texts are instants and the two readings' arithmetic
    // is compared, not only their refusals.
    const num = (width: number, min: number, max: number) =>
      mostly(
        fc.integer({ min, max }).map((n) => String(n).padStart(width, '0')),
        fc.oneof(
          fc.integer({ min: 0, max: 10 ** width - 1 }).map((n) => String(n).padStart(width, '0')),
          fc.constantFrom('', '1', '123', 'x1', '99999'),
        ),
      );
    const sep = (usual: string, ...odd: string[]) =>
      mostly(fc.constant(usual), fc.constantFrom(...odd));
    const text = fc
      .tuple(
        num(4, 1970, 9998),
        sep('-', '/', '.'),
        num(2, 1, 12),
        sep('-', '/'),
        num(2, 1, 28),
        mostly(fc.constantFrom('T', ' '), fc.constantFrom('t', '_')),
        num(2, 0, 23),
        sep(':', '.'),
        num(2, 0, 59),
        sep(':', '.'),
        num(2, 0, 59),
        fc.oneof(fc.constantFrom('', '.', ','), fc.stringMatching(/^[.,]\d{1,9}$/)),
        fc.oneof(
          fc.constantFrom('', 'Z', '+01:00', '-0530', '+14:00', '-00:00'),
          fc.constantFrom('z', '+1:00', ' Z', '+01:0', '+99:99', ' ', 'ZZ', '+01:00x'),
        ),
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(
        text,
        fc.constantFrom('local', 'utc') as fc.Arbitrary<'local' | 'utc'>,
        (t, zone) => {
          expect(parseTimestamp(t, 'ymd', zone)).toBe(parseByPattern(t, 'ymd', zone));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('keeps the first three digits of a long fraction, whatever follows', () => {
    expect(parseTimestamp('2025-06-23T08:00:04.0999999999999999Z', 'ymd', 'local')).toBe(
      Date.UTC(2025, 5, 23, 8, 0, 4, 99),
    );
  });
});

describe('itemTimestamp', () => {
  it("takes hour 24 for no hour, also after the next day's hour 0 was read", () => {
    // Hour 24 of one day and hour 0 of the next would be the same hour to a cache keyed by
    // the fields' values.
    expect(itemTimestamp('2025-05-12 00:00:00.000', 'ymd', 'local')).not.toBeNull();
    expect(itemTimestamp('2025-05-11 24:00:00.000', 'ymd', 'local')).toBeNull();
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
