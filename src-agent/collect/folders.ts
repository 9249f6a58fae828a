// Xradia installs each software version in its own folder; the sources follow the
// newest one that has its log folder, and a version installed later is picked up on the
// next scan.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

export const VERSION_PLACEHOLDER = '<version>';

export interface ResolvedFolder {
  /** The folder whose files are read now. */
  folder: string;
  /** The fixed part above any version folder: cursor paths are relative to it. */
  base: string;
}

export class FolderError extends Error {
  readonly code = 'folder_missing';
}

export async function resolveFolder(template: string): Promise<ResolvedFolder> {
  const at = template.indexOf(VERSION_PLACEHOLDER);
  if (at < 0) return { folder: template, base: template };
  const base = template.slice(0, at).replace(/[\\/]+$/, '');
  const rest = template.slice(at + VERSION_PLACEHOLDER.length).replace(/^[\\/]+/, '');
  let entries;
  try {
    entries = await readdir(base, { withFileTypes: true });
  } catch (err) {
    throw new FolderError(`cannot read ${base}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  const versions = entries
    .filter((e) => e.isDirectory() && /^\d+(\.\d+)*$/.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => compareVersions(b, a));
  if (versions.length === 0) throw new FolderError(`no version folder in ${base}`);
  // A version installed but not yet run has no log folder, while the version before it
  // goes on writing its own: the newest version with a log folder is the one followed.
  for (const version of versions) {
    const folder = path.join(base, version, rest);
    if (await isFolder(folder)) return { folder, base };
  }
  return { folder: path.join(base, versions[0]!, rest), base };
}

const isFolder = (folder: string) =>
  stat(folder).then(
    (s) => s.isDirectory(),
    () => false,
  );

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
