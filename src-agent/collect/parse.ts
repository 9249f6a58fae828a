// Turns a framed entry into items by the source's declarative rules. Deny by default:
// only what a rule names, errors and warnings become items; everything else stays here.
import type { NewItem } from '../transport/codec.ts';
import type { ProfileSource, Rule } from '../profiles/schema.ts';
import type { Entry, FrameRules } from './entries.ts';
import { redactMessage } from './redact.ts';
import { parseTimestamp, toLocalIso } from './timestamp.ts';

export const MAX_ENTRY_CHARS = 1024 * 1024;

export interface ParseOutcome {
  items: NewItem[];
  /** Why the entry (or part of it) could not be read; counted in the source's status. */
  problems: string[];
}

export interface SourceParser {
  frame: FrameRules;
  parse(entry: Entry, file: string): ParseOutcome;
}

type Target = Extract<Rule, { type: 'regex' }>;
type ItemTarget = Pick<Target, 'name' | 'kind' | 'unit' | 'valueType'>;

const NUMBER_WITH_UNIT = /^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*)$/;

export function compileSource(source: ProfileSource): SourceParser {
  const entry = new RegExp(source.format.entry, 'u');
  const drops = source.drop.map((d) => new RegExp(d, 'u'));
  const errorCode = source.errorCode ? new RegExp(source.errorCode, 'u') : null;
  const errors = new Set(source.levels.error.map((l) => l.toUpperCase()));
  const warnings = new Set(source.levels.warning.map((l) => l.toUpperCase()));
  const rules = source.rules.map(compileRule);

  return {
    frame: { startsEntry: (text) => entry.test(text), maxEntryChars: MAX_ENTRY_CHARS },
    parse(framed, file) {
      const first = framed.lines[0] ?? '';
      const groups = entry.exec(first)?.groups;
      if (!groups)
        return { items: [], problems: [`entry does not match the format of ${source.id}`] };
      const epochMs = parseTimestamp(
        groups.ts ?? '',
        source.timestamp.order,
        source.timestamp.zone,
      );
      if (Number.isNaN(epochMs)) {
        return {
          items: [],
          problems: [`unreadable timestamp "${(groups.ts ?? '').slice(0, 40)}"`],
        };
      }
      const base = {
        ts: toLocalIso(epochMs),
        source: source.id,
        attrs: source.fileAttr ? { file } : undefined,
      };
      const message = (groups.message ?? '').trim();
      const level = (groups.level ?? '').toUpperCase();
      const problems: string[] = [];
      const items: NewItem[] = [];
      if (errors.has(level) || warnings.has(level)) {
        const isError = errors.has(level);
        const code = isError ? errorCode?.exec(message)?.groups?.code : undefined;
        const attrs = { ...base.attrs, ...(code ? { code } : {}) };
        items.push({
          ...base,
          name: isError ? 'error' : 'warning',
          kind: isError ? 'error' : 'event',
          value: redactMessage(message),
          attrs: Object.keys(attrs).length ? attrs : undefined,
        });
      } else if (!drops.some((d) => d.test(message))) {
        for (const rule of rules)
          rule(message, (target, raw, unitText) => {
            const value = toValue(target, raw);
            if (value === undefined) {
              problems.push(`${target.name}: "${raw.slice(0, 40)}" is not a number`);
              return;
            }
            const unit =
              target.unit ?? (unitText ? (source.units[unitText] ?? unitText) : undefined);
            items.push({ ...base, name: target.name, kind: target.kind, value, unit });
          });
      }
      if (framed.truncated)
        problems.push(`entry longer than ${MAX_ENTRY_CHARS} characters was cut`);
      return { items: items.map(withoutUndefined), problems };
    },
  };
}

type Emit = (target: ItemTarget, raw: string, unitText: string | undefined) => void;

function compileRule(rule: Rule): (message: string, emit: Emit) => void {
  if (rule.type === 'regex') {
    const re = new RegExp(rule.match, 'u');
    return (message, emit) => {
      const m = re.exec(message);
      if (m) emit(rule, m.groups?.value ?? '', m.groups?.unit);
    };
  }
  const labels = new Map(Object.entries(rule.labels));
  return (message, emit) => {
    for (const part of message.split(rule.separator)) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      const target = labels.get(part.slice(0, eq).trim());
      if (!target) continue;
      const text = part.slice(eq + 1).trim();
      if (target.valueType !== 'number') {
        emit(target, text, undefined);
        continue;
      }
      const m = NUMBER_WITH_UNIT.exec(text);
      emit(target, m?.[1] ?? text, m?.[2] || undefined);
    }
  };
}

function toValue(target: ItemTarget, raw: string): NewItem['value'] | undefined {
  if (target.valueType === 'null') return null;
  if (target.valueType === 'string') return redactMessage(raw.trim());
  const n = Number(raw);
  return raw.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

function withoutUndefined(item: NewItem): NewItem {
  const out = { ...item };
  if (out.unit === undefined) delete out.unit;
  if (out.attrs === undefined) delete out.attrs;
  return out;
}
