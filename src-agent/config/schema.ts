// The one configuration model: the CLI reads it from a JSON file, the tray app will
// write it from its settings window; both go through this schema.
import * as z from 'zod';
import { DEVICE_KINDS } from '../transport/codec.ts';

const sourceOverride = z
  .object({
    folder: z.string().min(1).optional(),
    enabled: z.boolean().optional(),
    /** Code page for files without a byte order mark (iconv-lite name, e.g. cp1252). */
    encoding: z.string().min(1).optional(),
  })
  .strict();

export const configSchema = z
  .object({
    serverUrl: z
      .string()
      .url()
      .refine((u) => /^wss?:\/\//i.test(u), { message: 'must be a wss:// URL' }),
    caFile: z.string().min(1).optional(),
    dataDir: z.string().min(1),
    device: z
      .object({
        id: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - (at most 64)'),
        kind: z.enum(DEVICE_KINDS),
        model: z.string().min(1).max(128).optional(),
      })
      .strict(),
    sources: z.record(z.string(), sourceOverride).default({}),
    /** A folder of profile files (`em.json`, ...) that replaces the shipped ones. */
    profilesDir: z.string().min(1).optional(),
    collect: z
      .object({
        /** The safety-net scan for changes the file watcher missed (network folders). */
        pollIntervalSec: z.number().min(0.1).max(3600).default(2),
        /** What a first start reads of the files already there; files that appear later are read whole. */
        backfill: z
          .object({
            /** Files last written longer ago are not read back (0: no limit). */
            maxAgeDays: z.number().min(0).default(30),
            /** Only the last this many bytes of a larger file are read back (0: no limit). */
            maxBytes: z
              .number()
              .int()
              .min(0)
              .default(64 * 1024 * 1024),
          })
          .strict()
          .default({ maxAgeDays: 30, maxBytes: 64 * 1024 * 1024 }),
        /**
         * Worker threads that parse a large backlog (a backfill), each up to one core while
         * it lasts; 0 parses everything on the agent's main thread.
         */
        parseThreads: z.number().int().min(0).max(8).default(2),
      })
      .strict()
      .default({
        pollIntervalSec: 2,
        backfill: { maxAgeDays: 30, maxBytes: 64 * 1024 * 1024 },
        parseThreads: 2,
      }),
    /** The outbox's quota: beyond it the oldest metrics go first, errors last, and a gap item says so. */
    outbox: z
      .object({
        maxItems: z.number().int().min(1000).default(2_000_000),
        maxMB: z.number().min(1).default(512),
      })
      .strict()
      .default({ maxItems: 2_000_000, maxMB: 512 }),
    /**
     * The proxy to reach the server through: a `url`, or the system's answer for the server
     * URL (`pac`, e.g. "PROXY proxy:8080; DIRECT", as the tray app gets it from Electron).
     * Without it, HTTPS_PROXY / NO_PROXY apply. The password comes from the secrets.
     */
    proxy: z
      .object({
        url: z
          .string()
          .url()
          .refine((u) => /^https?:\/\//i.test(u), {
            message: 'must be an http:// or https:// proxy URL',
          })
          .optional(),
        pac: z.string().max(4096).optional(),
        /** Use the system's proxy settings: the tray app resolves them into `pac`; headless, HTTPS_PROXY applies. */
        system: z.literal(true).optional(),
        auth: z.enum(['none', 'basic', 'digest', 'ntlm', 'auto']).default('none'),
        username: z.string().min(1).max(256).optional(),
        domain: z.string().min(1).max(256).optional(),
      })
      .strict()
      .refine((p) => [p.url, p.pac, p.system].filter((v) => v !== undefined).length === 1, {
        message: 'give exactly one of "url", "pac" and "system"',
      })
      .refine((p) => p.auth === 'none' || p.auth === 'auto' || p.username !== undefined, {
        message: 'a user name is needed for this authentication scheme',
        path: ['username'],
      })
      .optional(),
    tls: z
      .object({
        /** Base64 SHA-256 of the server's SubjectPublicKeyInfo; the connection needs one to match. */
        pins: z
          .array(z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'a base64 SHA-256 (44 characters)'))
          .max(8),
      })
      .strict()
      .optional(),
  })
  .strict();

export type AgentConfig = z.infer<typeof configSchema>;
export type SourceOverride = z.infer<typeof sourceOverride>;
