// A number as a log writes it, turned into the text JSON writes for it without turning it into
// a double and back: that round trip (Number() and the shortest digits of the double) was an
// eighth of a parse worker's instructions on an EM log. With at most 15 significant digits a
// decimal has exactly one double, and that double's shortest digits are those digits; so the
// text follows from the digits and where the decimal point is.
import type { NumberJson } from '../outbox/batch.ts';

/** Significant digits that always survive a round trip through a double. */
const SAFE_DIGITS = 15;
/** Decimal exponents well inside the range of normal doubles. */
const SAFE_EXPONENT = 300;

/**
 * What `String(Number(raw))` writes, for `raw` of the form `[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?`;
 * undefined for any other text, and for numbers of more than 15 significant digits or far out
 * of range, which the caller reads with Number().
 */
export function numberJson(raw: string): NumberJson | undefined {
  const length = raw.length;
  if (length === 0) return undefined;
  let at = 0;
  const first = raw.charCodeAt(0);
  if (first === MINUS || first === PLUS) at++;
  const intStart = at;
  at = skipDigits(raw, at, length);
  const intEnd = at;
  let fracStart = at;
  let fracEnd = at;
  let point = false;
  if (at < length && raw.charCodeAt(at) === DOT) {
    point = true;
    fracStart = at + 1;
    at = fracEnd = skipDigits(raw, fracStart, length);
  }
  if (intEnd === intStart && fracEnd === fracStart) return undefined;
  let exponent = 0;
  const exponentAt = at;
  if (at < length) {
    if ((raw.charCodeAt(at) | 0x20) !== LOWER_E) return undefined;
    at++;
    const sign = at < length ? raw.charCodeAt(at) : 0;
    if (sign === MINUS || sign === PLUS) at++;
    const digitsStart = at;
    at = skipDigits(raw, at, length);
    // Five digits at most: more would be out of range anyway.
    if (at !== length || at === digitsStart || at - digitsStart > 5) return undefined;
    exponent = Number(raw.slice(digitsStart, at));
    if (sign === MINUS) exponent = -exponent;
  }

  // The significant digits: from the first to the last that is not 0, across the point.
  let lead = firstNonZero(raw, intStart, intEnd);
  if (lead < 0) lead = firstNonZero(raw, fracStart, fracEnd);
  if (lead < 0) return '0' as NumberJson;
  let last = lastNonZero(raw, fracStart, fracEnd);
  if (last < 0) last = lastNonZero(raw, intStart, intEnd);
  const spansPoint = lead < intEnd && last >= fracStart;
  const count = last - lead + 1 - (spansPoint ? 1 : 0);
  if (count > SAFE_DIGITS) return undefined;
  // The value is 0.<digits> x 10^scale.
  const scale = (lead < intEnd ? intEnd - lead : fracStart - lead) + exponent;
  if (scale > SAFE_EXPONENT || scale < -SAFE_EXPONENT) return undefined;

  // Most logs write numbers as JSON does (`9623`, `24.08`): the text itself, no new string.
  if (
    first !== PLUS &&
    exponentAt === length &&
    scale <= 21 &&
    (point ? fracEnd > fracStart && last === fracEnd - 1 : true) &&
    (lead === intStart ? true : intEnd - intStart === 1 && scale > -6)
  ) {
    return raw as NumberJson;
  }
  const digits = spansPoint
    ? raw.slice(lead, intEnd) + raw.slice(fracStart, last + 1)
    : raw.slice(lead, last + 1);
  return ((first === MINUS ? '-' : '') + format(digits, count, scale)) as NumberJson;
}

/** ECMAScript's Number::toString for 0.<digits> x 10^scale, `count` digits. */
function format(digits: string, count: number, scale: number): string {
  if (count <= scale && scale <= 21) return digits + '0'.repeat(scale - count);
  if (scale > 0 && scale <= 21) return `${digits.slice(0, scale)}.${digits.slice(scale)}`;
  if (scale > -6 && scale <= 0) return `0.${'0'.repeat(-scale)}${digits}`;
  const power = scale - 1;
  const mantissa = count === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
  return `${mantissa}e${power < 0 ? '-' : '+'}${Math.abs(power)}`;
}

const [PLUS, MINUS, DOT, ZERO, LOWER_E] = [43, 45, 46, 48, 101];

function skipDigits(text: string, at: number, end: number): number {
  while (at < end) {
    const c = text.charCodeAt(at);
    if (c < ZERO || c > ZERO + 9) break;
    at++;
  }
  return at;
}

function firstNonZero(text: string, from: number, to: number): number {
  for (let at = from; at < to; at++) if (text.charCodeAt(at) !== ZERO) return at;
  return -1;
}

function lastNonZero(text: string, from: number, to: number): number {
  for (let at = to - 1; at >= from; at--) if (text.charCodeAt(at) !== ZERO) return at;
  return -1;
}
