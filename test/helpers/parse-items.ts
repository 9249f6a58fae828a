// An entry's items as objects, where the agent writes them straight into a batch: what
// tests of the parser compare. A number the parser hands over as a plain number (its JSON
// text) becomes the item it stands for (BatchWriter.plainNumber writes that item's row).
import type { Entry, FrameRules } from '../../src-agent/collect/entries.ts';
import type { BatchStates, ParseOutcome, SourceParser } from '../../src-agent/collect/parse.ts';
import type { NewItem } from '../../src-agent/transport/codec.ts';

export interface ParsedItems extends ParseOutcome {
  items: NewItem[];
}

export function parseItems(
  parser: SourceParser,
  entry: Entry,
  file: string,
  states?: BatchStates,
): ParsedItems {
  const items: NewItem[] = [];
  const outcome = parser.parse(
    entry,
    file,
    {
      item: (item) => items.push(item),
      plainNumber: (ts, source, name, kind, json, unit) =>
        items.push({
          ts,
          source,
          name,
          kind,
          value: JSON.parse(json) as number,
          ...(unit === undefined ? {} : { unit }),
        }),
    },
    states,
  );
  return { items, ...outcome };
}

/** A parser that only frames, for code that frames and never parses (tailOnce). */
export const framingOnly = (frame: FrameRules): SourceParser => ({
  frame,
  parse: () => ({ problems: [], ts: null }),
});
