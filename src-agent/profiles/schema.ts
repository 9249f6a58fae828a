// The declarative device profile: which folders and files a device's software logs to,
// how its entries are framed and parsed, and which rules turn them into items. Kept as
// data so a service engineer can adapt to a new software release without a new build.
import * as z from 'zod';
import { DEVICE_KINDS, ITEM_KINDS } from '../transport/codec.ts';

const regex = z.string().refine(
  (s) => {
    try {
      new RegExp(s, 'u');
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);

const itemName = z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)*$/, 'dotted lower-case item name');

const itemTarget = z
  .object({
    name: itemName,
    kind: z.enum(ITEM_KINDS),
    /** Unit to report; overrides the unit found in the log line. */
    unit: z.string().max(32).optional(),
    /** `number` parses the value (failing that, the entry is counted as a parse error). */
    valueType: z.enum(['number', 'string', 'null']).default('number'),
  })
  .strict();

/** Applies a rule only to entries whose field (or `message`, `level`) matches. */
const condition = z.object({ field: z.string().min(1), match: regex }).strict();

/** `Label = value unit` pairs, as SmartSEM writes them, several per entry. */
const labelsRule = z
  .object({
    type: z.literal('labels'),
    when: condition.optional(),
    /** Separates the pairs within one message. */
    separator: z.string().min(1).default(';'),
    labels: z.record(z.string().min(1), itemTarget),
  })
  .strict();

/** A regular expression on the message; the named group `value` (and `unit`) feed the item. */
const regexRule = z
  .object({
    type: z.literal('regex'),
    when: condition.optional(),
    match: regex,
    ...itemTarget.shape,
  })
  .strict();

/** A field of the parsed entry (an XML attribute or property, a named group) as an item. */
const fieldRule = z
  .object({
    type: z.literal('field'),
    when: condition.optional(),
    field: z.string().min(1),
    ...itemTarget.shape,
  })
  .strict();

/** Records that name themselves (`name`, `value`, `unit` fields): only the names listed here pass. */
const recordsRule = z
  .object({
    type: z.literal('records'),
    when: condition.optional(),
    names: z.record(z.string().min(1), itemTarget),
  })
  .strict();

export const ruleSchema = z.discriminatedUnion('type', [
  labelsRule,
  regexRule,
  fieldRule,
  recordsRule,
]);
export type Rule = z.infer<typeof ruleSchema>;
export type ItemTarget = z.infer<typeof itemTarget>;

const linesFormat = z
  .object({
    type: z.literal('lines'),
    /**
     * Matches the first line of an entry, with named groups `ts`, `level`, `message` (others
     * become fields). `.` matches any character of the line, a stray CR too.
     */
    entry: regex,
  })
  .strict();

/** log4net XmlLayout: a stream of `<event>` fragments without a root element. */
const log4netFormat = z.object({ type: z.literal('log4net-xml') }).strict();

/** One self-closing `<record timestamp=".." name=".." value=".." unit=".." />` per entry. */
const xmlRecordsFormat = z.object({ type: z.literal('xml-records') }).strict();

export const formatSchema = z.discriminatedUnion('type', [
  linesFormat,
  log4netFormat,
  xmlRecordsFormat,
]);
export type Format = z.infer<typeof formatSchema>;

const timestampSchema = z
  .object({
    /** Field order of local dates; offsets in the text always win over `zone`. */
    order: z.enum(['ymd', 'mdy', 'dmy']).default('ymd'),
    zone: z.enum(['local', 'utc']).default('local'),
  })
  .strict();

export const profileSourceSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]+$/, 'lower-case id with dashes'),
    description: z.string().optional(),
    folder: z.string().min(1),
    /** File name patterns (`*` and `?` wildcards), matched case-insensitively. */
    files: z.array(z.string().min(1)).min(1),
    exclude: z.array(z.string().min(1)).default([]),
    /** Code page for files without a byte order mark. */
    encoding: z.string().default('cp1252'),
    format: formatSchema,
    timestamp: timestampSchema.default({ order: 'ymd', zone: 'local' }),
    /** Level words that make an entry an `error` item or a `warning` event. */
    levels: z
      .object({ error: z.array(z.string()), warning: z.array(z.string()) })
      .strict()
      .default({ error: ['ERROR', 'FATAL'], warning: ['WARN', 'WARNING'] }),
    /** Error code pattern (named group `code`) copied into an error item's attrs. */
    errorCode: regex.optional(),
    /** Entries whose message matches one of these are never items (saved images, ...). */
    drop: z.array(regex).default([]),
    /** Units as written in the log mapped to the units sent. */
    units: z.record(z.string(), z.string()).default({}),
    /** Name the file in each item's attrs (for sources that span several files). */
    fileAttr: z.boolean().default(false),
    rules: z.array(ruleSchema).default([]),
  })
  .strict();
export type ProfileSource = z.infer<typeof profileSourceSchema>;

export const profileSchema = z
  .object({
    kind: z.enum(DEVICE_KINDS),
    description: z.string().optional(),
    sources: z.array(profileSourceSchema).min(1),
  })
  .strict();
export type Profile = z.infer<typeof profileSchema>;
