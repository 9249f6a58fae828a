// A batch of new items as the outbox stores it: one JSON array text. It is made where the
// items are parsed (a worker thread during a backfill) and crosses to the outbox's thread as
// one string. `state` items are kept only when their value changes: a repeat within the
// batch is left out here already; whether a state's first value in the batch is new, only
// the outbox can tell, from the last value it stored.
import type { NewItem } from '../transport/codec.ts';

/** The first item of one state in a batch: the outbox keeps it if its value changed. */
export interface FirstState {
  /** Position in the batch's array. */
  index: number;
  /** Source and name: which state this is a value of. */
  key: string;
  /** The value as JSON text. */
  value: string;
  /** Length of the item's JSON text. */
  size: number;
}

export interface ItemBatch {
  /** JSON array of the items, in the order they were written. */
  json: string;
  count: number;
  firstStates: FirstState[];
  /** Each state's value at the end of the batch, as JSON text, by key. */
  lastStates: [key: string, value: string][];
  /** Timestamp of the last item parsed, if any (a repeated state included). */
  lastTs: string | null;
}

export const stateKey = (source: string, name: string) => `${source}\u0000${name}`;
export const splitStateKey = (key: string) => key.split('\u0000') as [string, string];

export function serializeItems(items: readonly NewItem[]): ItemBatch {
  const kept: NewItem[] = [];
  const firstStates: FirstState[] = [];
  // By source, then name: the profile's own strings, whose hashes are kept, where a joined key
  // would be a new string to hash for every state item.
  const values = new Map<string, Map<string, NewItem['value']>>();
  for (const item of items) {
    if (item.kind === 'state') {
      let ofSource = values.get(item.source);
      if (!ofSource) values.set(item.source, (ofSource = new Map()));
      const previous = ofSource.get(item.name);
      if (previous === undefined) {
        firstStates.push({
          index: kept.length,
          key: stateKey(item.source, item.name),
          value: JSON.stringify(item.value),
          size: JSON.stringify(item).length,
        });
      } else if (previous === item.value) {
        continue;
      }
      ofSource.set(item.name, item.value);
    }
    kept.push(item);
  }
  const lastStates: ItemBatch['lastStates'] = [];
  for (const [source, ofSource] of values) {
    for (const [name, value] of ofSource) {
      lastStates.push([stateKey(source, name), JSON.stringify(value)]);
    }
  }
  return {
    // One call for the whole array: a call per item took twice as long.
    json: JSON.stringify(kept),
    count: kept.length,
    firstStates,
    lastStates,
    lastTs: items.length > 0 ? items[items.length - 1]!.ts : null,
  };
}
