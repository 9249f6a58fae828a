import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeviceKind } from '../transport/codec.ts';
import { profileSchema, type Profile } from './schema.ts';

/**
 * The profiles shipped with the agent: this folder in the sources, `profiles/` beside the
 * bundle (out/agent/cli.mjs). An administrator may point `profilesDir` elsewhere.
 */
export const BUILTIN_PROFILES_DIR = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  import.meta.url.endsWith('.ts') ? '' : 'profiles',
);

export class ProfileError extends Error {
  readonly code = 'profile_invalid';
}

export async function loadProfile(kind: DeviceKind, dir = BUILTIN_PROFILES_DIR): Promise<Profile> {
  const file = path.join(dir, `${kind}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ProfileError(`profile ${file}: ${(err as Error).message}`);
  }
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    // Every problem, a line each: an administrator fixes them in one go, not one per start.
    const lines = parsed.error.issues.map(
      (issue) => `profile ${file}: ${formatPath(issue.path, raw)}: ${issue.message}`,
    );
    throw new ProfileError(lines.join('\n'));
  }
  if (parsed.data.kind !== kind) {
    throw new ProfileError(`profile ${file}: kind is "${parsed.data.kind}", expected "${kind}"`);
  }
  return parsed.data;
}

/** `sources[em-server].rules[2].match` reads better than `sources.0.rules.2.match`. */
function formatPath(keys: readonly PropertyKey[], root: unknown): string {
  let node = root;
  let out = '';
  for (const key of keys) {
    const child = (node as Record<PropertyKey, unknown> | undefined)?.[key];
    if (typeof key === 'number') {
      const id = (child as { id?: unknown } | undefined)?.id;
      out += typeof id === 'string' ? `[${id}]` : `[${key}]`;
    } else {
      out += out ? `.${String(key)}` : String(key);
    }
    node = child;
  }
  return out || '(profile)';
}
