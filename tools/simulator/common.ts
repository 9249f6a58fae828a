/** A log file as the instrument software writes it, relative to the simulator root. */
export interface LogFile {
  path: string;
  encoding: 'windows1252' | 'utf8' | 'utf16le';
  /** Written once, when the file is created, as the vendor software does. */
  bom: boolean;
}

/** One log entry: its lines are appended together so a reader never sees half an entry. */
export interface Entry {
  file: LogFile;
  lines: string[];
}

export interface Random {
  float(): number;
  between(min: number, max: number): number;
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

/**
 * mulberry32 over a seed kept in the simulation state, so a state can be cloned, stored and
 * replayed exactly.
 */
export function random(holder: { rng: number }): Random {
  const float = (): number => {
    holder.rng = (holder.rng + 0x6d2b79f5) | 0;
    let t = holder.rng;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    float,
    between: (min, max) => min + (max - min) * float(),
    int: (min, max) => min + Math.floor((max - min + 1) * float()),
    pick: (items) => items[Math.floor(items.length * float())]!,
  };
}

/** Mean-reverting walk: readings wander like a live instrument but stay in a plausible band. */
export function drift(r: Random, value: number, centre: number, spread: number): number {
  return value + (centre - value) * 0.3 + r.between(-spread, spread);
}

/** SmartSEM and the X-ray source print exponents with three digits, as the MSVC runtime does. */
export function exp3(value: number): string {
  return value
    .toExponential(2)
    .replace(
      /e([+-])(\d+)$/,
      (_, sign: string, digits: string) => `e${sign}${digits.padStart(3, '0')}`,
    );
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function parts(now: number) {
  const d = new Date(now);
  return {
    date: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
    us: `${pad(d.getMonth() + 1)}/${pad(d.getDate())}/${d.getFullYear()}`,
    time: `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`,
    ms: pad(d.getMilliseconds(), 3),
    offsetMinutes: -d.getTimezoneOffset(),
  };
}

/** `2025-05-11 08:00:04.236`, local time without offset. */
export function localStamp(now: number): string {
  const p = parts(now);
  return `${p.date} ${p.time}.${p.ms}`;
}

/** `08/08/2025 08:04:33`, the US local format of the X-ray source logs. */
export function usStamp(now: number): string {
  const p = parts(now);
  return `${p.us} ${p.time}`;
}

/**
 * ISO local time with the local offset. `subMillis` extends the fraction past milliseconds:
 * log4net prints .NET ticks (7 digits), which a JavaScript clock cannot supply.
 */
export function offsetStamp(now: number, subMillis?: number): string {
  const p = parts(now);
  const fraction = subMillis === undefined ? '' : `.${p.ms}${pad(subMillis, 4)}`;
  const sign = p.offsetMinutes < 0 ? '-' : '+';
  const offset = Math.abs(p.offsetMinutes);
  return `${p.date}T${p.time}${fraction}${sign}${pad(Math.floor(offset / 60))}:${pad(offset % 60)}`;
}
