// A batch of new items as the outbox stores it: JSON text made where the items are parsed
// (a worker thread during a backfill), which crosses to the outbox's thread as a few strings.
// Each item is stored as an array of its fields in the wire's order, without their names:
// JSON.stringify writes arrays in two thirds of the time it takes for objects, and the
// text, which SQLite writes twice (log and database), is a third shorter. The outbox turns
// rows back into the wire's objects when it sends them.
// `state` items are kept only when their value changes: a repeat within the batch is left
// out here already; whether a state's first value in the batch is new, only the outbox can
// tell, from the last value it stored. So each such first value is a run of its own, which
// the outbox leaves out by not joining it in, without reading any JSON.
import type { AgentTimestamp, ItemKind, NewItem } from '../transport/codec.ts';

declare const numberJsonText: unique symbol;
/** A finite number's JSON text. */
export type NumberJson = string & { readonly [numberJsonText]: true };

/** The JSON text of `value`, unless it is not finite (JSON has no text for it). */
export const numberJsonOf = (value: number): NumberJson | undefined =>
  Number.isFinite(value) ? (`${value}` as NumberJson) : undefined;

/** The first item of one state in a batch: the outbox keeps it if its value changed. */
export interface FirstState {
  /** Its run in the batch: `runs[run]` is this item's row alone. */
  run: number;
  /** Source and name: which state this is a value of. */
  key: string;
  /** The value as JSON text. */
  value: string;
}

export interface ItemBatch {
  /**
   * The items' rows (JSON arrays) in the order they were written, comma-separated, in runs:
   * the batch is `[` + the runs joined by commas + `]`. A state's first item is a run alone.
   */
  runs: string[];
  /** How many items each run holds: at most ROW_ITEMS. */
  runCounts: number[];
  count: number;
  firstStates: FirstState[];
  /** Each state's value at the end of the batch, as JSON text, by key. */
  lastStates: [key: string, value: string][];
}

/** An item as stored: `[ts, source, name, kind, value, unit?, attrs?]`, unit null if absent. */
export type StoredRow =
  | [string, string, string, ItemKind, NewItem['value']]
  | [string, string, string, ItemKind, NewItem['value'], string | null]
  | [
      string,
      string,
      string,
      ItemKind,
      NewItem['value'],
      string | null,
      NonNullable<NewItem['attrs']>,
    ];

export function toRow(item: NewItem): StoredRow {
  const { ts, source, name, kind, value, unit, attrs } = item;
  if (attrs !== undefined) return [ts, source, name, kind, value, unit ?? null, attrs];
  if (unit !== undefined) return [ts, source, name, kind, value, unit];
  return [ts, source, name, kind, value];
}

/** The item a row stands for, its keys in the order the wire sends them. */
export function fromRow(row: StoredRow): NewItem {
  const item: NewItem = { ts: row[0], source: row[1], name: row[2], kind: row[3], value: row[4] };
  if (row[5] !== undefined && row[5] !== null) item.unit = row[5];
  if (row[6] !== undefined) item.attrs = row[6];
  return item;
}

/**
 * Items per stored row at most. A read for the server takes a few hundred items (protocol
 * maxBatchItems), and a row much larger than that kept a drain's memory high: its text and
 * its frames outlived several reads and were promoted to the old generation.
 */
export const ROW_ITEMS = 500;

export const stateKey = (source: string, name: string) => `${source}\u0000${name}`;
export const splitStateKey = (key: string) => key.split('\u0000') as [string, string];

export function serializeItems(items: readonly NewItem[]): ItemBatch {
  const writer = new BatchWriter();
  for (const item of items) writer.item(item);
  return writer.finish();
}

/** Items in the order they are made, written as a batch for the outbox. */
export class BatchWriter {
  private readonly runs: string[] = [];
  private readonly runCounts: number[] = [];
  private readonly firstStates: FirstState[] = [];
  /** The open run's rows: joined when it ends, not appended one by one. */
  private run: string[] = [];
  private count = 0;
  /**
   * Each state's last value, by source, then name: the profile's own strings, whose hashes are
   * kept, where a joined key would be a new string to hash for every state item.
   */
  private readonly values = new Map<string, Map<string, NewItem['value']>>();

  item(item: NewItem): void {
    if (item.kind === 'state') {
      let ofSource = this.values.get(item.source);
      if (!ofSource) this.values.set(item.source, (ofSource = new Map()));
      const previous = ofSource.get(item.name);
      if (previous === undefined) {
        this.endRun();
        this.firstStates.push({
          run: this.runs.length,
          key: stateKey(item.source, item.name),
          value: JSON.stringify(item.value),
        });
        this.runs.push(rowJson(item));
        this.runCounts.push(1);
        ofSource.set(item.name, item.value);
        this.count++;
        return;
      }
      if (previous === item.value) return;
      ofSource.set(item.name, item.value);
    }
    this.push(rowJson(item));
  }

  /**
   * A number item of any kind but `state`, without attributes: the bulk of what instruments
   * log, written without being made into an item first. Its row is the one `item()` writes
   * for `{ ts, source, name, kind, value, unit }`. Neither the timestamp nor the value is
   * checked here: their types say they are text JSON writes as it is. Checking each entry's
   * timestamp took 4% of a worker's instructions.
   */
  plainNumber(
    ts: AgentTimestamp,
    source: string,
    name: string,
    kind: ItemKind,
    value: NumberJson,
    unit: string | undefined,
  ): void {
    const { fields, end } = rowTemplate(source, name, kind, unit);
    this.push(`["${ts}",${fields}${value}${end}`);
  }

  finish(): ItemBatch {
    this.endRun();
    const lastStates: ItemBatch['lastStates'] = [];
    for (const [source, ofSource] of this.values) {
      for (const [name, value] of ofSource) {
        lastStates.push([stateKey(source, name), JSON.stringify(value)]);
      }
    }
    return {
      runs: this.runs,
      runCounts: this.runCounts,
      count: this.count,
      firstStates: this.firstStates,
      lastStates,
    };
  }

  private push(row: string): void {
    this.run.push(row);
    this.count++;
    if (this.run.length === ROW_ITEMS) this.endRun();
  }

  private endRun(): void {
    if (this.run.length === 0) return;
    this.runs.push(this.run.join(','));
    this.runCounts.push(this.run.length);
    this.run = [];
  }
}

/**
 * An item's stored row as JSON text, exactly as `JSON.stringify(toRow(item))` writes it: from
 * a template of its source, name, kind and unit. JSON.stringify of the row took a fifth of a
 * parse worker's time, most of it checking, item after item, every character of the same
 * few strings; of the rest only the value and the attributes are the item's own.
 */
export function rowJson(item: NewItem): string {
  const { ts, value, attrs } = item;
  if (!isPlainTs(ts)) return JSON.stringify(toRow(item));
  const template = rowTemplate(item.source, item.name, item.kind, item.unit);
  // In an array, JSON writes what it has no text for (NaN, a value missing at run time) as
  // null.
  const valueJson =
    (typeof value === 'number' ? numberJsonOf(value) : JSON.stringify(value)) ?? 'null';
  return attrs === undefined
    ? `["${ts}",${template.fields}${valueJson}${template.end}`
    : `["${ts}",${template.fields}${valueJson}${template.beforeAttrs}${JSON.stringify(attrs)}]`;
}

interface RowTemplate {
  kind: ItemKind;
  unit: string | undefined;
  /** The JSON of source, name and kind, with the commas that follow. */
  fields: string;
  /** The JSON of what follows the value: the unit, if any, and the array's end. */
  end: string;
  /** What follows the value where attributes follow: the unit or null, and a comma. */
  beforeAttrs: string;
}

/** By source, then name: lookups with the profile's own strings, whose hashes are kept. */
const templates = new Map<string, Map<string, RowTemplate>>();
/** Names come from profiles and the agent's own items: a few hundred at most. */
const MAX_TEMPLATES = 1024;
let templateCount = 0;

function rowTemplate(
  source: string,
  name: string,
  kind: ItemKind,
  unit: string | undefined,
): RowTemplate {
  let ofSource = templates.get(source);
  const known = ofSource?.get(name);
  if (known && known.kind === kind && known.unit === unit) return known;
  if (!known && ++templateCount > MAX_TEMPLATES) {
    templates.clear();
    templateCount = 1;
    ofSource = undefined;
  }
  if (!ofSource) templates.set(source, (ofSource = new Map()));
  const made: RowTemplate = {
    kind,
    unit,
    fields: `${JSON.stringify([source, name, kind]).slice(1, -1)},`,
    end: unit === undefined ? ']' : `,${JSON.stringify(unit)}]`,
    beforeAttrs: `,${unit === undefined ? 'null' : JSON.stringify(unit)},`,
  };
  ofSource.set(name, made);
  return made;
}

/** The timestamp of the items before, checked already: the items of an entry share theirs. */
let plainTs = '';

/** Whether JSON writes `ts` as it is, between quotes: no quote, backslash or control. */
function isPlainTs(ts: string): boolean {
  if (ts === plainTs) return true;
  if (!PLAIN.test(ts)) return false;
  plainTs = ts;
  return true;
}

const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
