// `Label = value unit` parts between separators, as SmartSEM writes several per entry. The
// value of a label asked for is read where it stands: only the number and the unit are cut
// out. It used to be cut out, trimmed, and matched by a pattern that made a match and its
// groups, for every value of every EM entry.
import type { ItemTarget } from '../profiles/schema.ts';

/** How a rule hands a value over: `raw` as written, `unitText` the unit beside it, if any. */
export type Emit = (target: ItemTarget, raw: string, unitText: string | undefined) => void;

export function labelsReader(
  labels: Readonly<Record<string, ItemTarget>>,
  separator: string,
): (message: string, emit: Emit) => void {
  // Each label also as logs space it (`; Gun Vacuum = `): a part is then found as it stands,
  // and trimmed only where it is spaced otherwise. A label with blanks of its own matches no
  // trimmed part, so it is no key at all.
  const targets = new Map<string, ItemTarget>();
  for (const [label, target] of Object.entries(labels)) {
    if (label !== label.trim()) continue;
    for (const spaced of [label, ` ${label}`, `${label} `, ` ${label} `])
      targets.set(spaced, target);
  }
  return (message, emit) => {
    // The next `=` is searched for only once it lies behind: a long message without one is
    // scanned once, not once per part.
    let eq = -1;
    for (let from = 0; from <= message.length;) {
      let to = message.indexOf(separator, from);
      if (to < 0) to = message.length;
      if (eq < from) eq = message.indexOf('=', from);
      if (eq < 0) return;
      if (eq < to) {
        // A label is looked up as a string: comparing it in place, character by character,
        // took more instructions than cutting it out and hashing it natively.
        const label = message.slice(from, eq);
        const target = targets.get(label) ?? targets.get(label.trim());
        if (target) emitValue(target, message, eq + 1, to, emit);
      }
      from = to + separator.length;
    }
  };
}

/**
 * The part's value, trimmed; for a number, split into the number and the unit after it, as
 * `^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*)$` would. A value that does not start
 * with a number is passed whole, for the emitter to report.
 */
function emitValue(target: ItemTarget, text: string, from: number, to: number, emit: Emit): void {
  const start = skipSpace(text, from, to);
  const end = trimmedEnd(text, start, to);
  const numberEnd = target.valueType === 'number' ? endOfNumber(text, start, end) : start;
  if (numberEnd === start) {
    emit(target, text.slice(start, end), undefined);
    return;
  }
  const unitStart = skipSpace(text, numberEnd, end);
  emit(
    target,
    text.slice(start, numberEnd),
    unitStart < end ? text.slice(unitStart, end) : undefined,
  );
}

/** Where the number at `start` ends (greedy, as the pattern above), or `start` if none starts there. */
function endOfNumber(text: string, start: number, end: number): number {
  // Every character is read below `end` only: a read past a string's end slows the code down.
  let at = start < end && isSign(text.charCodeAt(start)) ? start + 1 : start;
  const digits = at;
  at = skipDigits(text, at, end);
  if (at > digits) {
    if (at < end && text.charCodeAt(at) === DOT) at = skipDigits(text, at + 1, end);
  } else {
    if (at + 1 >= end || text.charCodeAt(at) !== DOT || !isDigit(text.charCodeAt(at + 1))) {
      return start;
    }
    at = skipDigits(text, at + 1, end);
  }
  if (at + 1 < end && (text.charCodeAt(at) | 0x20) === LOWER_E) {
    const exponent = isSign(text.charCodeAt(at + 1)) ? at + 2 : at + 1;
    const expEnd = skipDigits(text, exponent, end);
    if (expEnd > exponent) at = expEnd;
  }
  return at;
}

const [PLUS, MINUS, DOT, LOWER_E] = [43, 45, 46, 101];

const isSign = (code: number) => code === PLUS || code === MINUS;

const isDigit = (code: number) => code >= 48 && code <= 57;

function skipDigits(text: string, at: number, end: number): number {
  while (at < end && isDigit(text.charCodeAt(at))) at++;
  return at;
}

function skipSpace(text: string, at: number, end: number): number {
  while (at < end && isSpace(text.charCodeAt(at))) at++;
  return at;
}

function trimmedEnd(text: string, start: number, end: number): number {
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  return end;
}

/** What `String.prototype.trim` and `\s` take for white space: ECMAScript's WhiteSpace and LineTerminator. */
export function isSpace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}
