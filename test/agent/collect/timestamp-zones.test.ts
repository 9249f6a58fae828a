// Local times in zones whose offsets change in awkward ways: the timestamp code asks the
// calendar once per hour and derives the minutes, which must give exactly what a fresh Date
// gives, in the hours around every change too. Node applies a new process.env.TZ at once;
// each zone gets a fresh copy of the module, so that no cache carries over between zones.
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';

const hostZone = process.env.TZ;
afterAll(() => {
  if (hostZone === undefined) delete process.env.TZ;
  else process.env.TZ = hostZone;
});

const ZONES = [
  'Europe/Berlin',
  // A 30-minute daylight-saving shift.
  'Australia/Lord_Howe',
  // Offsets of whole quarters and halves of an hour.
  'Asia/Kathmandu',
  'America/St_Johns',
  // Historical changes at odd minutes and offsets with seconds.
  'Europe/Amsterdam',
  'Africa/Monrovia',
];

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Instants near this zone's offset changes between 1900 and 2040, and anywhere else. */
function interestingInstants(): number[] {
  const changes: number[] = [];
  const step = 3 * 3_600_000;
  let last = new Date(Date.UTC(1900, 0, 1)).getTimezoneOffset();
  for (let t = Date.UTC(1900, 0, 1); t < Date.UTC(2040, 0, 1); t += step) {
    const offset = new Date(t).getTimezoneOffset();
    if (offset !== last) changes.push(t);
    last = offset;
  }
  return changes;
}

describe.each(ZONES)('local time in %s', (zone) => {
  it('reads and writes every minute around each offset change as a fresh Date does', async () => {
    process.env.TZ = zone;
    vi.resetModules();
    const { parseTimestamp, toLocalIso } = await import('../../../src-agent/collect/timestamp.ts');
    const changes = interestingInstants();
    expect(changes.length).toBeGreaterThan(0);
    const near = fc
      .tuple(fc.constantFrom(...changes), fc.integer({ min: -4 * 3_600_000, max: 4 * 3_600_000 }))
      .map(([change, delta]) => change + delta);
    const anywhere = fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2040, 0, 1) });
    fc.assert(
      fc.property(fc.oneof(near, anywhere), (ms) => {
        const date = new Date(ms);
        const offset = -date.getTimezoneOffset();
        const text = toLocalIso(ms);
        expect(Date.parse(text)).toBe(ms);
        // What BatchWriter.plainNumber relies on: nothing that JSON would escape.
        expect(text).toMatch(/^[0-9TZ:.+-]+$/);
        if (Number.isInteger(offset)) {
          const abs = Math.abs(offset);
          const sign = offset < 0 ? '-' : '+';
          expect(text.slice(23)).toBe(
            offset === 0 ? 'Z' : `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`,
          );
        }
        // The wall-clock reading of the same instant, as a log would write it.
        const local =
          `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
          `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.` +
          pad(date.getMilliseconds(), 3);
        const expected = new Date(
          date.getFullYear(),
          date.getMonth(),
          date.getDate(),
          date.getHours(),
          date.getMinutes(),
          date.getSeconds(),
          date.getMilliseconds(),
        ).getTime();
        expect(parseTimestamp(local, 'ymd', 'local')).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });
});

// The zones above, and zones of one offset at all times, where every reading of a real date
// is written back as it is: the agent's test zone among them.
describe.each([...ZONES, 'Etc/GMT-1', 'UTC'])('item timestamps in %s', (zone) => {
  it('gives an item the timestamp of the instant its reading stands for, whatever the reading', async () => {
    process.env.TZ = zone;
    vi.resetModules();
    const { itemTimestamp, parseTimestamp, toLocalIso } =
      await import('../../../src-agent/collect/timestamp.ts');
    const changes = interestingInstants();
    // Readings of the hours around each change (some of which do not exist or exist twice),
    // and of any date, real or not, in the shapes logs write.
    const nearChange = (instants: number[]) =>
      fc
        .tuple(
          fc.constantFrom(...instants),
          fc.integer({ min: -4 * 3_600_000, max: 4 * 3_600_000 }),
          fc.integer({ min: -1, max: 1 }),
        )
        .map(([change, delta, hourShift]) => {
          const d = new Date(change + delta);
          const hour = Math.min(23, Math.max(0, d.getHours() + hourShift));
          return (
            `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
            `${pad(hour)}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
          );
        });
    const anyReading = fc
      .record({
        year: fc.oneof(
          fc.integer({ min: 1, max: 99 }),
          fc.integer({ min: 998, max: 1001 }),
          fc.integer({ min: 1900, max: 2040 }),
          fc.integer({ min: 9997, max: 9999 }),
        ),
        month: fc.integer({ min: 0, max: 13 }),
        day: fc.integer({ min: 0, max: 32 }),
        hour: fc.integer({ min: 0, max: 24 }),
        minute: fc.integer({ min: 0, max: 60 }),
        second: fc.integer({ min: 0, max: 61 }),
        fraction: fc.constantFrom('.123', '.000', '.999', ',123', '.1', '.1234567', ''),
        t: fc.constantFrom(' ', 'T'),
        suffix: fc.constantFrom('', '', 'Z', '+01:00', ' '),
      })
      .map(
        (r) =>
          `${pad(r.year, 4)}-${pad(r.month)}-${pad(r.day)}${r.t}${pad(r.hour)}:${pad(r.minute)}:` +
          `${pad(r.second)}${r.fraction}${r.suffix}`,
      );
    // Any of them with one character replaced: by a quote, a letter, a separator, a digit.
    const spoilt = fc
      .tuple(anyReading, fc.nat(30), fc.constantFrom('"', '\\', 'a', '-', ' ', ':', '.', '9'))
      .map(([text, at, c]) => text.slice(0, at) + c + text.slice(at + 1));
    fc.assert(
      fc.property(
        changes.length > 0
          ? fc.oneof(nearChange(changes), anyReading, spoilt)
          : fc.oneof(anyReading, spoilt),
        (text) => {
          const ms = parseTimestamp(text, 'ymd', 'local');
          expect(itemTimestamp(text, 'ymd', 'local')).toBe(
            Number.isNaN(ms) ? null : toLocalIso(ms),
          );
        },
      ),
      { numRuns: 3000 },
    );
  });
});
