// Wire protocol v1 (../shared/protocol.md): frame types and their validation.
// The one module src-server shares with the agent, so both halves agree by construction.
import * as z from 'zod';

export const PROTOCOL_VERSION = 1;
export const SUBPROTOCOL = 'scopelink.v1';
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
export const MAX_CHUNK_BYTES = 256 * 1024;

export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 4000,
  sessionExpired: 4001,
  tokenRevoked: 4003,
} as const;

export const DEVICE_KINDS = ['em', 'lm', 'xrm'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

export const ITEM_KINDS = [
  'metric',
  'state',
  'event',
  'error',
  'info',
  'sysinfo',
  'agent',
] as const;
export type ItemKind = (typeof ITEM_KINDS)[number];

const seq = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const isoInstant = z.iso.datetime({ offset: true, local: false });

export const itemSchema = z.object({
  seq,
  ts: isoInstant,
  source: z.string().min(1).max(64),
  name: z.string().min(1).max(128),
  value: z.union([z.number(), z.string().max(4096), z.boolean(), z.null()]),
  unit: z.string().max(32).optional(),
  kind: z.enum(ITEM_KINDS),
  attrs: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
});
export type Item = z.infer<typeof itemSchema>;
/** An item before the outbox has given it its seq. */
export type NewItem = Omit<Item, 'seq'>;

declare const agentTimestamp: unique symbol;
/**
 * An item's timestamp as the agent writes it from a log's (toLocalIso): digits and `-:.+TZ`
 * only, text that JSON writes as it is, so a row can be written around it unchecked.
 */
export type AgentTimestamp = string & { readonly [agentTimestamp]: true };

export const helloSchema = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  agent: z.object({ name: z.string().max(64), version: z.string().max(64) }),
  device: z.object({
    id: z.string().min(1).max(128),
    kind: z.enum(DEVICE_KINDS),
    model: z.string().max(128).optional(),
  }),
  outbox: z.object({
    stream: z.string().uuid(),
    pending: z.number().int().nonnegative(),
    oldestTs: isoInstant.nullable().optional(),
  }),
});
export type Hello = z.infer<typeof helloSchema>;

export const itemsFrameSchema = z.object({
  type: z.literal('items'),
  items: z.array(itemSchema).min(1).max(10_000),
});
export type ItemsFrame = z.infer<typeof itemsFrameSchema>;

export const errorBodySchema = z.object({
  code: z.string().max(64),
  message: z.string().max(1024),
});

export const responseSchema = z.object({
  type: z.literal('response'),
  id: z.string().min(1).max(128),
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: errorBodySchema.optional(),
});
export type ResponseFrame = z.infer<typeof responseSchema>;

export const chunkSchema = z.object({
  type: z.literal('chunk'),
  id: z.string().min(1).max(128),
  offset: z.number().int().nonnegative(),
  data: z.string(),
  last: z.boolean(),
});
export type ChunkFrame = z.infer<typeof chunkSchema>;

export const welcomeSchema = z.object({
  type: z.literal('welcome'),
  protocol: z.number().int(),
  session: z.string().max(128),
  ackedSeq: z.number().int().nonnegative(),
  heartbeatSec: z.number().int().min(1).max(3600).default(30),
  maxBatchItems: z.number().int().min(1).max(10_000).default(500),
});
export type Welcome = z.infer<typeof welcomeSchema>;

export const ackSchema = z.object({ type: z.literal('ack'), upTo: z.number().int().nonnegative() });
export type Ack = z.infer<typeof ackSchema>;

export const requestSchema = z.object({
  type: z.literal('request'),
  id: z.string().min(1).max(128),
  op: z.string().min(1).max(64),
  args: z.record(z.string(), z.unknown()).default({}),
});
export type RequestFrame = z.infer<typeof requestSchema>;

export type AgentFrame = Hello | ItemsFrame | ResponseFrame | ChunkFrame;
export type ServerFrame = Welcome | Ack | RequestFrame;

const agentFrames = {
  hello: helloSchema,
  items: itemsFrameSchema,
  response: responseSchema,
  chunk: chunkSchema,
};
const serverFrames = { welcome: welcomeSchema, ack: ackSchema, request: requestSchema };

export class ProtocolError extends Error {
  readonly code = 'protocol_error';
}

/** `null` means a well-formed frame of a type this version does not know: ignore it. */
export type Decoded<T> = T | null;

function decode<M extends Record<string, z.ZodType>>(
  frames: M,
  text: string,
): Decoded<z.infer<M[keyof M]>> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ProtocolError('frame is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ProtocolError('frame is not a JSON object');
  }
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string') throw new ProtocolError('frame has no string "type"');
  if (!Object.hasOwn(frames, type)) return null;
  const parsed = (frames[type] as z.ZodType).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ProtocolError(
      `bad "${type}" frame: ${issue ? `${issue.path.join('.') || '(frame)'}: ${issue.message}` : 'invalid'}`,
    );
  }
  return parsed.data as z.infer<M[keyof M]>;
}

export const decodeAgentFrame = (text: string): Decoded<AgentFrame> =>
  decode(agentFrames, text) as Decoded<AgentFrame>;
export const decodeServerFrame = (text: string): Decoded<ServerFrame> =>
  decode(serverFrames, text) as Decoded<ServerFrame>;

export const encodeFrame = (frame: AgentFrame | ServerFrame): string => JSON.stringify(frame);
