import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { configSchema, type AgentConfig } from './schema.ts';

export class ConfigError extends Error {
  readonly code = 'config_invalid';
}

/** Reads and validates a config file; relative paths are taken from the file's folder. */
export async function loadConfigFile(file: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseConfig(raw, path.dirname(path.resolve(file)));
}

export function parseConfig(raw: unknown, baseDir: string): AgentConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error));
  const config = parsed.data;
  const abs = (p: string) => path.resolve(baseDir, p);
  return {
    ...config,
    dataDir: abs(config.dataDir),
    caFile: config.caFile && abs(config.caFile),
    profilesDir: config.profilesDir && abs(config.profilesDir),
    sources: Object.fromEntries(
      Object.entries(config.sources).map(([id, s]) => [
        id,
        s.folder ? { ...s, folder: abs(s.folder) } : s,
      ]),
    ),
  };
}

/** One line per problem, each naming the key: `device.kind: ...`. */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const key = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') {
        const prefix = key ? `${key}.` : '';
        return issue.keys.map((k) => `${prefix}${k}: unknown key`).join('\n');
      }
      return `${key || '(config)'}: ${issue.message}`;
    })
    .join('\n');
}
