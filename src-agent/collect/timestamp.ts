// Log timestamps come in several shapes; those without an offset are the host's local
// time (or UTC where the profile says so), those with one are taken as written.
import type { AgentTimestamp } from '../transport/codec.ts';

export type DateOrder = 'ymd' | 'mdy' | 'dmy';
export type Zone = 'local' | 'utc';

const NUMBERS =
  /^(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})[T ](\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * The timestamp an item carries for a log's timestamp text (toLocalIso of what it stands for),
 * or null when the text is not a timestamp of this order.
 */
export function itemTimestamp(text: string, order: DateOrder, zone: Zone): AgentTimestamp | null {
  if (order === 'ymd' && zone === 'local') {
    const written = asWritten(text);
    if (written !== null) return written;
  }
  const epochMs = parseTimestamp(text, order, zone);
  return Number.isNaN(epochMs) ? null : toLocalIso(epochMs);
}

/**
 * `YYYY-MM-DD[T ]hh:mm:ss.fff` in local time, as most instrument software writes it, turned
 * into the item's timestamp by putting a T and the offset in: in an hour whose offset is
 * steady, the instant it stands for is written back to the same reading. Reading it to an
 * instant and writing that out again took 4% more of a parse worker's instructions on an EM
 * log. Null for any other text, and for readings that are not written back as they are (a
 * leap second, a day past the month's end, an hour of an offset change).
 */
function asWritten(text: string): AgentTimestamp | null {
  if (text.length !== 23 || text.charCodeAt(19) !== 0x2e || digits(text, 20, 3) < 0) return null;
  if (!readFields(text)) return null;
  const { year, month, day, hour, minute, second } = fields;
  // In range, or the hour's cache key (localHour) would name another hour.
  if (
    year > 9998 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return null;
  }
  const { offset } = localHour(year, month, day, hour);
  if (offset === null) return null;
  // Every character was checked: digits and separators, which JSON writes as they are.
  return (text.slice(0, 10) + 'T' + text.slice(11) + offset) as AgentTimestamp;
}

/** Milliseconds since the epoch, or NaN when the text is not a timestamp of this order. */
export function parseTimestamp(text: string, order: DateOrder, zone: Zone): number {
  const fixed = order === 'ymd' ? parseFixedWidth(text, zone) : undefined;
  return fixed ?? parseByPattern(text, order, zone);
}

/** Any shape NUMBERS takes: the general reading, and the reference for the quick one. */
export function parseByPattern(text: string, order: DateOrder, zone: Zone): number {
  const m = NUMBERS.exec(text.trim());
  if (!m) return NaN;
  // Plain locals, no arrays: this runs once per log entry.
  const a = Number(m[1]);
  const b = Number(m[2]);
  const c = Number(m[3]);
  // Milliseconds are the first three digits of the fraction, so 7-digit .NET ticks truncate.
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  let offset: number | null = null;
  if (m[8] === 'Z') offset = 0;
  else if (m[8]) {
    const digits = m[8].slice(1).replace(':', '');
    offset =
      (m[8].startsWith('-') ? -1 : 1) * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2)));
  }
  return instant(
    order === 'ymd' ? a : c,
    order === 'dmy' ? b : order === 'mdy' ? a : b,
    order === 'ymd' ? c : order === 'mdy' ? b : a,
    Number(m[4]),
    Number(m[5]),
    Number(m[6]),
    ms,
    offset,
    zone,
  );
}

/**
 * `YYYY-MM-DD[T ]hh:mm:ss[.fff…][Z|±hh:mm|±hhmm]`, read by position: the shape nearly every
 * log writes, at a third of the pattern's cost. Undefined for anything else.
 */
function parseFixedWidth(text: string, zone: Zone): number | undefined {
  if (!readFields(text)) return undefined;
  const n = text.length;
  let at = 19;
  let ms = 0;
  const point = text.charCodeAt(at);
  if ((point === 0x2e || point === 0x2c) && isDigit(text.charCodeAt(at + 1))) {
    at++;
    // The first three digits are the milliseconds; .NET's further ones are dropped.
    let used = 0;
    // Bounded: a read past the end is NaN, which V8 deoptimises the function for.
    for (; at < n && isDigit(text.charCodeAt(at)); at++) {
      if (used < 3) {
        ms = ms * 10 + (text.charCodeAt(at) - 0x30);
        used++;
      }
    }
    ms *= used === 1 ? 100 : used === 2 ? 10 : 1;
  }
  let offset: number | null = null;
  if (at < n) {
    const sign = text.charCodeAt(at);
    if (sign === 0x5a /* Z */ && at + 1 === n) offset = 0;
    else if (sign === 0x2b /* + */ || sign === DASH) {
      const hh = digits(text, at + 1, 2);
      const colon = text.charCodeAt(at + 3) === COLON ? 1 : 0;
      const mm = digits(text, at + 3 + colon, 2);
      if (hh < 0 || mm < 0 || at + 5 + colon !== n) return undefined;
      offset = (sign === DASH ? -1 : 1) * (hh * 60 + mm);
    } else return undefined;
  }
  const { year, month, day, hour, minute, second } = fields;
  return instant(year, month, day, hour, minute, second, ms, offset, zone);
}

/** What readFields read last: one record, reused, as this runs once per log entry. */
const fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };

/** Reads `YYYY-MM-DD[T ]hh:mm:ss` at the start of `text` into `fields`: whether it is there. */
function readFields(text: string): boolean {
  if (text.length < 19) return false;
  const t = text.charCodeAt(10);
  fields.year = digits(text, 0, 4);
  fields.month = digits(text, 5, 2);
  fields.day = digits(text, 8, 2);
  fields.hour = digits(text, 11, 2);
  fields.minute = digits(text, 14, 2);
  fields.second = digits(text, 17, 2);
  return (
    fields.year >= 0 &&
    fields.month >= 0 &&
    fields.day >= 0 &&
    fields.hour >= 0 &&
    fields.minute >= 0 &&
    fields.second >= 0 &&
    text.charCodeAt(4) === DASH &&
    text.charCodeAt(7) === DASH &&
    (t === 0x54 || t === 0x20) &&
    text.charCodeAt(13) === COLON &&
    text.charCodeAt(16) === COLON
  );
}

const DASH = 0x2d;
const COLON = 0x3a;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/** The number written by `count` digits at `at`, or -1. */
function digits(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return -1;
    value = value * 10 + (c - 0x30);
  }
  return value;
}

/** `offset` in minutes east of UTC, or null for a time in `zone`. */
function instant(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
  offset: number | null,
  zone: Zone,
): number {
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return NaN;
  }
  // The end of 9999 turns into year 10000 under an offset: no ISO 8601 instant the wire takes.
  if (year > 9998) return NaN;
  if (offset !== null) {
    return Date.UTC(year, month - 1, day, hour, minute, second, ms) - offset * 60_000;
  }
  if (zone === 'utc') return Date.UTC(year, month - 1, day, hour, minute, second, ms);
  return localInstant(year, month, day, hour, minute, second, ms);
}

// Log lines come many to the hour: the local calendar is asked about each hour once. Where
// the hour has one offset throughout, every instant in it follows by arithmetic; in an hour
// whose offset changes (at any second: historical offsets have seconds) each instant asks
// the calendar. No zone changes its offset twice within an hour.
interface LocalHour {
  /** Where the hour starts, or NaN if its offset changes within it. */
  start: number;
  /**
   * The hour's offset as ISO 8601 writes it, where every reading in the hour is written back
   * as it was read: a steady hour of a real date, whole minutes off UTC. Null elsewhere.
   */
  offset: string | null;
}
const localHours = new Map<number, LocalHour>();
const hourOffsets = new Map<number, number>();
const CACHE_LIMIT = 4096;
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

function remember<T>(cache: Map<number, T>, key: number, value: T): T {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
  return value;
}

/** The instant a local reading stands for, as `new Date(...)` reads it. */
function localInstant(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
): number {
  const { start } = localHour(year, month, day, hour);
  if (!Number.isNaN(start)) return start + minute * MINUTE_MS + second * 1000 + ms;
  return new Date(year, month - 1, day, hour, minute, second, ms).getTime();
}

function localHour(year: number, month: number, day: number, hour: number): LocalHour {
  const key = ((year * 13 + month) * 32 + day) * 24 + hour;
  return localHours.get(key) ?? remember(localHours, key, readLocalHour(year, month, day, hour));
}

/**
 * Local times that do not exist or exist twice are read with the offset before the change,
 * so a change in the hour mostly shows as a next hour that does not start an hour later.
 * Where it does not (below), every reading in the hour is still read with the offset before
 * the change, as Date reads it: `start` holds for the whole hour, and only the readings are
 * not written back as they are.
 */
function readLocalHour(year: number, month: number, day: number, hour: number): LocalHour {
  const start = new Date(year, month - 1, day, hour).getTime();
  const next = new Date(year, month - 1, day, hour + 1).getTime();
  if (next - start !== HOUR_MS) return { start: NaN, offset: null };
  // Date rolls a day past the month's end (and years 0-99) into another date. An hour can
  // start an hour before the next and still hold a change: where the change skips the next
  // hour's start too (St. John's moved from 00:01 to 01:01), both are read with the offset
  // before it.
  const date = new Date(start);
  const writtenBack =
    date.getFullYear() === year &&
    date.getMonth() === month - 1 &&
    date.getDate() === day &&
    date.getHours() === hour &&
    new Date(next - 1).getTimezoneOffset() === date.getTimezoneOffset();
  const offsetMin = (Date.UTC(year, month - 1, day, hour) - start) / MINUTE_MS;
  return {
    start,
    offset: writtenBack && Number.isInteger(offsetMin) ? offsetText(offsetMin) : null,
  };
}

function offsetMinutes(epochMs: number): number {
  const key = Math.floor(epochMs / HOUR_MS);
  const offset = hourOffsets.get(key) ?? remember(hourOffsets, key, steadyHourOffset(key));
  return Number.isNaN(offset) ? -new Date(epochMs).getTimezoneOffset() : offset;
}

/** The offset throughout the UTC hour `hour`, or NaN if it changes within it. */
function steadyHourOffset(hour: number): number {
  const first = -new Date(hour * HOUR_MS).getTimezoneOffset();
  const last = -new Date((hour + 1) * HOUR_MS - 1).getTimezoneOffset();
  return first === last ? first : NaN;
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/** `YYYY-MM-DDT` by day since the epoch. */
const days = new Map<number, string>();

/**
 * ISO 8601 in the host's offset, so a service engineer reads the lab's wall-clock time.
 * Built by arithmetic from cached day and offset texts: this runs once per item, and a
 * Date per call was a tenth of the agent's parse time.
 */
export function toLocalIso(epochMs: number): AgentTimestamp {
  const offsetMin = offsetMinutes(epochMs);
  const local = epochMs + offsetMin * MINUTE_MS;
  const day = Math.floor(local / DAY_MS);
  let inDay = local - day * DAY_MS;
  const ms = inDay % 1000;
  inDay = (inDay - ms) / 1000;
  const second = inDay % 60;
  inDay = (inDay - second) / 60;
  const minute = inDay % 60;
  const hour = (inDay - minute) / 60;
  const date =
    days.get(day) ?? remember(days, day, `${new Date(day * DAY_MS).toISOString().slice(0, 10)}T`);
  // Joins of under 13 characters make flat strings, longer ones chains that JSON.stringify
  // flattens for every item: the time is built alone (12 characters), then joined to the rest
  // in two steps. Historical offsets with seconds leave a fraction of a millisecond.
  const time =
    TWO_DIGITS[hour]! +
    ':' +
    TWO_DIGITS[minute]! +
    ':' +
    TWO_DIGITS[second]! +
    '.' +
    (THREE_DIGITS[ms] ?? String(ms).padStart(3, '0'));
  return (date + time + offsetText(offsetMin)) as AgentTimestamp;
}

const offsetTexts = new Map<number, string>();

function offsetText(offsetMin: number): string {
  let text = offsetTexts.get(offsetMin);
  if (text === undefined) {
    const abs = Math.abs(offsetMin);
    text =
      offsetMin === 0
        ? 'Z'
        : `${offsetMin < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    offsetTexts.set(offsetMin, text);
  }
  return text;
}
