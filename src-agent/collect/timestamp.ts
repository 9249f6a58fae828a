// Log timestamps come in several shapes; those without an offset are the host's local
// time (or UTC where the profile says so), those with one are taken as written.
export type DateOrder = 'ymd' | 'mdy' | 'dmy';
export type Zone = 'local' | 'utc';

const NUMBERS =
  /^(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})[T ](\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/** Milliseconds since the epoch, or NaN when the text is not a timestamp of this order. */
export function parseTimestamp(text: string, order: DateOrder, zone: Zone): number {
  const m = NUMBERS.exec(text.trim());
  if (!m) return NaN;
  const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [year, month, day] = order === 'ymd' ? [a, b, c] : order === 'mdy' ? [c, a, b] : [c, b, a];
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6])];
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return NaN;
  }
  // The end of 9999 turns into year 10000 under an offset: no ISO 8601 instant the wire takes.
  if (year > 9998) return NaN;
  const offset = m[8];
  if (offset) {
    const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
    if (offset === 'Z') return utc;
    const sign = offset.startsWith('-') ? -1 : 1;
    const digits = offset.slice(1).replace(':', '');
    const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
    return utc - sign * minutes * 60_000;
  }
  if (zone === 'utc') return Date.UTC(year, month - 1, day, hour, minute, second, ms);
  return localMinute(year, month, day, hour, minute) + second * 1000 + ms;
}

// Log lines come many to the minute: the local calendar is asked once per minute, which is
// exact, since time zones change their offset only on whole minutes.
const minuteStarts = new Map<number, number>();
const offsets = new Map<number, number>();
const CACHE_LIMIT = 4096;

function remember(cache: Map<number, number>, key: number, value: number): number {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
  return value;
}

function localMinute(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
): number {
  const key = (((year * 13 + month) * 32 + day) * 24 + hour) * 60 + minute;
  return (
    minuteStarts.get(key) ??
    remember(minuteStarts, key, new Date(year, month - 1, day, hour, minute).getTime())
  );
}

function offsetMinutes(epochMs: number): number {
  const key = Math.floor(epochMs / 60_000);
  return offsets.get(key) ?? remember(offsets, key, -new Date(epochMs).getTimezoneOffset());
}

/** ISO 8601 in the host's offset, so a service engineer reads the lab's wall-clock time. */
export function toLocalIso(epochMs: number): string {
  const offsetMin = offsetMinutes(epochMs);
  const local = new Date(epochMs + offsetMin * 60_000).toISOString().slice(0, 23);
  if (offsetMin === 0) return `${local}Z`;
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${local}${sign}${hh}:${mm}`;
}
