// Turns a framed entry into items by the source's declarative rules. Deny by default:
// only what a rule names, errors and warnings become items; everything else stays here.
import { numberJsonOf, type BatchWriter, type NumberJson } from '../outbox/batch.ts';
import type { AgentTimestamp, NewItem } from '../transport/codec.ts';
import type { ItemTarget, ProfileSource, Rule } from '../profiles/schema.ts';
import type { Entry, FrameRules } from './entries.ts';
import { createReader, type ParsedEntry } from './formats.ts';
import { groupReader } from './group-reader.ts';
import { labelsReader, type Emit } from './labels.ts';
import { numberJson } from './number-json.ts';
import { redactMessage } from './redact.ts';
import { itemTimestamp } from './timestamp.ts';

export const MAX_ENTRY_CHARS = 1024 * 1024;

const NO_PROBLEMS: string[] = [];
const [OTHER, WARNING, ERROR] = [0, 1, 2];

/** Where an entry's items go, in the order they are made: a batch for the outbox, or a list. */
export type ItemSink = Pick<BatchWriter, 'item' | 'plainNumber'>;

export interface ParseOutcome {
  /** Why the entry (or part of it) could not be read; counted in the source's status. */
  problems: readonly string[];
  /** When the entry was written, as items carry it; null if that could not be read. */
  ts: string | null;
}

/**
 * The last value of each state in the batch being parsed, by name: the rule target that made
 * it and the text it was made from. Entry after entry writes the same (a version on every ZEN
 * event): the same target given the same text again makes the same value, which the batch
 * would drop as a repeat (serializeItems); this spares making it.
 */
export type BatchStates = Map<string, { target: ItemTarget; raw: string }>;

export interface SourceParser {
  frame: FrameRules;
  /** Writes the entry's items to `sink`. */
  parse(entry: Entry, file: string, sink: ItemSink, states?: BatchStates): ParseOutcome;
}

type CompiledRule = (entry: ParsedEntry, emit: Emit) => void;

// The wire's limits (itemSchema in transport/codec.ts): an item the server refuses would
// block the outbox, so longer text is cut here.
const MAX_VALUE_CHARS = 4096;
const MAX_UNIT_CHARS = 32;

export function compileSource(source: ProfileSource): SourceParser {
  const reader = createReader(source.format);
  const drops = source.drop.map((d) => new RegExp(d, 'u'));
  const errorCode = source.errorCode ? new RegExp(source.errorCode, 'u') : null;
  const errors = new Set(source.levels.error.map((l) => l.toUpperCase()));
  const warnings = new Set(source.levels.warning.map((l) => l.toUpperCase()));
  const rules = source.rules.map(compileRule);
  const units = new Map(Object.entries(source.units));

  // One entry's output, reused: the emitter is made once, not as a closure per entry.
  let sink: ItemSink;
  let problems: string[] = NO_PROBLEMS;
  let ts = '' as AgentTimestamp;
  let states: BatchStates | undefined;
  // Most entries have no problem: their list is made on the first one.
  const problem = (text: string) => {
    if (problems === NO_PROBLEMS) problems = [];
    problems.push(text);
  };
  let fileAttr: { file: string } | undefined;
  let lastLevel: string | undefined;
  let levelClass = OTHER;
  const emit: Emit = (target, raw, unitText) => {
    const last = target.kind === 'state' ? states?.get(target.name) : undefined;
    if (last && last.target === target && last.raw === raw) return;
    const unit = target.unit ?? (unitText ? (units.get(unitText) ?? unitText) : undefined);
    // A number is the usual item, and the one the sink can write without making the item,
    // from its text where that tells what JSON writes for it.
    if (target.valueType === 'number' && target.kind !== 'state' && !fileAttr) {
      const json = numberJson(raw) ?? jsonOfNumber(raw);
      if (json === undefined) {
        problem(notANumber(target, raw));
        return;
      }
      const fitted = unit === undefined ? undefined : cut(unit, MAX_UNIT_CHARS);
      sink.plainNumber(ts, source.id, target.name, target.kind, json, fitted);
      return;
    }
    const value = toValue(target, raw);
    if (value === undefined) {
      problem(notANumber(target, raw));
      return;
    }
    sink.item(fitToWire(makeItem(ts, source.id, target.name, target.kind, value, unit, fileAttr)));
    if (target.kind === 'state') states?.set(target.name, { target, raw });
  };
  const dropped = (message: string) => {
    for (const d of drops) if (d.test(message)) return true;
    return false;
  };

  return {
    frame: { ...reader.frame, maxEntryChars: MAX_ENTRY_CHARS },
    parse(framed, file, itemSink, batchStates) {
      sink = itemSink;
      problems = NO_PROBLEMS;
      states = batchStates;
      if (framed.truncated) problem(`entry longer than ${MAX_ENTRY_CHARS} characters was cut`);
      const parsed = reader.read(framed.lines, framed.head);
      if (typeof parsed === 'string') {
        problem(parsed);
        return { problems, ts: null };
      }
      const stamp = itemTimestamp(parsed.ts, source.timestamp.order, source.timestamp.zone);
      if (stamp === null) {
        problem(`unreadable timestamp "${parsed.ts.slice(0, 40)}"`);
        return { problems, ts: null };
      }
      ts = stamp;
      // A dropped entry (a saved image, an experiment) is no item at any level: its message
      // names what the lab works on.
      if (dropped(parsed.message)) return { problems, ts };
      fileAttr = source.fileAttr ? { file } : undefined;
      // Entry after entry has the same level: it is classified once per change.
      if (parsed.level !== lastLevel) {
        lastLevel = parsed.level;
        const upper = lastLevel.toUpperCase();
        levelClass = errors.has(upper) ? ERROR : warnings.has(upper) ? WARNING : OTHER;
      }
      const isError = levelClass === ERROR;
      if (levelClass !== OTHER) {
        const code = isError ? errorCode?.exec(parsed.message)?.groups?.code : undefined;
        const exception = isError && parsed.exception ? redactMessage(parsed.exception) : undefined;
        sink.item(
          fitToWire(
            makeItem(
              ts,
              source.id,
              isError ? 'error' : 'warning',
              isError ? 'error' : 'event',
              redactMessage(parsed.message),
              undefined,
              errorAttrs(fileAttr, code, exception),
            ),
          ),
        );
      }
      for (const rule of rules) rule(parsed, emit);
      return { problems, ts };
    },
  };
}

function compileRule(rule: Rule): CompiledRule {
  const apply = compileAction(rule);
  if (!rule.when) return apply;
  const { field } = rule.when;
  const match = new RegExp(rule.when.match, 'u');
  return (entry, emit) => {
    const value =
      field === 'message' ? entry.message : field === 'level' ? entry.level : entry.fields[field];
    if (value !== undefined && match.test(value)) apply(entry, emit);
  };
}

function compileAction(rule: Rule): CompiledRule {
  switch (rule.type) {
    case 'regex': {
      const groups = groupReader(new RegExp(rule.match, 'u'), ['value', 'unit']);
      return (entry, emit) => {
        const m = groups.exec(entry.message);
        if (m) emit(rule, groups.group(m, 0) ?? '', groups.group(m, 1));
      };
    }
    case 'field':
      return (entry, emit) => {
        const value = entry.fields[rule.field];
        if (value !== undefined) emit(rule, value, undefined);
      };
    case 'records': {
      const names = new Map(Object.entries(rule.names));
      return (entry, emit) => {
        const target = names.get(entry.fields.name ?? '');
        if (target) emit(target, entry.fields.value ?? '', entry.fields.unit || undefined);
      };
    }
    case 'labels': {
      const read = labelsReader(rule.labels, rule.separator);
      return (entry, emit) => read(entry.message, emit);
    }
  }
}

const notANumber = (target: ItemTarget, raw: string) =>
  `${target.name}: "${raw.slice(0, 40)}" is not a number`;

function toValue(target: ItemTarget, raw: string): NewItem['value'] | undefined {
  if (target.valueType === 'null') return null;
  if (target.valueType === 'string') return redactMessage(raw.trim());
  return readNumber(raw);
}

/** The finite number `raw` writes, or undefined. */
function readNumber(raw: string): number | undefined {
  const n = Number(raw);
  // Number() reads blank text as 0: only then is the text looked at again.
  if (!Number.isFinite(n) || (n === 0 && raw.trim() === '')) return undefined;
  return n;
}

function jsonOfNumber(raw: string): NumberJson | undefined {
  const n = readNumber(raw);
  return n === undefined ? undefined : numberJsonOf(n);
}

/**
 * The attributes an error item has. Built key by key: a spread with undefined values and a
 * filter made objects of changing shapes, for which the code was deoptimised.
 */
function errorAttrs(
  fileAttr: { file: string } | undefined,
  code: string | undefined,
  exception: string | undefined,
): Record<string, string> | undefined {
  if (!fileAttr && code === undefined && exception === undefined) return undefined;
  const attrs: Record<string, string> = {};
  if (fileAttr) attrs.file = fileAttr.file;
  if (code !== undefined) attrs.code = code;
  if (exception !== undefined) attrs.exception = exception;
  return attrs;
}

/** Keys only where there is a value: deleting keys later would slow every item down. */
function makeItem(
  ts: string,
  source: string,
  name: string,
  kind: NewItem['kind'],
  value: NewItem['value'],
  unit?: string,
  attrs?: NewItem['attrs'],
): NewItem {
  const item: NewItem = { ts, source, name, kind, value };
  if (unit !== undefined) item.unit = unit;
  if (attrs !== undefined) item.attrs = attrs;
  return item;
}

function fitToWire(item: NewItem): NewItem {
  if (typeof item.value === 'string') item.value = cut(item.value, MAX_VALUE_CHARS);
  if (item.unit !== undefined) item.unit = cut(item.unit, MAX_UNIT_CHARS);
  if (item.attrs) {
    // A copy: items of one entry share their attrs object.
    item.attrs = Object.fromEntries(
      Object.entries(item.attrs).map(([k, v]) => [
        k,
        typeof v === 'string' ? cut(v, MAX_VALUE_CHARS) : v,
      ]),
    );
  }
  return item;
}

/** The first `max` UTF-16 units, never half a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}
