import { ConfigError } from '../config/load.ts';
import type { SourceOverride } from '../config/schema.ts';
import type { Profile, ProfileSource } from '../profiles/schema.ts';

/** The profile's sources with the configuration's folders and switches applied. */
export function resolveSources(
  profile: Profile,
  overrides: Record<string, SourceOverride>,
): ProfileSource[] {
  const known = new Set(profile.sources.map((s) => s.id));
  for (const id of Object.keys(overrides)) {
    if (!known.has(id)) {
      throw new ConfigError(
        `sources.${id}: no such source in the ${profile.kind} profile (known: ${[...known].join(', ')})`,
      );
    }
  }
  return profile.sources
    .filter((s) => overrides[s.id]?.enabled !== false)
    .map((s) => {
      const o = overrides[s.id] ?? {};
      return { ...s, folder: o.folder ?? s.folder, encoding: o.encoding ?? s.encoding };
    });
}

/** `*` and `?` wildcards, case-insensitive as on the Windows file systems the logs live on. */
export function fileMatcher(
  source: Pick<ProfileSource, 'files' | 'exclude'>,
): (name: string) => boolean {
  const include = source.files.map(wildcard);
  const exclude = source.exclude.map(wildcard);
  return (name) => include.some((re) => re.test(name)) && !exclude.some((re) => re.test(name));
}

function wildcard(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}
