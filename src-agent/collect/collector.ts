// Watches the sources' folders and feeds new entries through the parsers into the
// outbox. The file watcher makes it prompt; the periodic scan makes it sure (network
// folders and missed events).
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../log.ts';
import type { FileCursor, Outbox } from '../outbox/outbox.ts';
import type { ProfileSource } from '../profiles/schema.ts';
import type { CodedError, SourceStatus } from '../status.ts';
import type { NewItem } from '../transport/codec.ts';
import { compileSource, type SourceParser } from './parse.ts';
import { fileMatcher } from './sources.ts';
import { tailOnce, type TailPass } from './tail.ts';

export interface CollectorOptions {
  pollIntervalMs: number;
  /** How long an entry at the end of a file waits for continuation lines. */
  settleMs?: number;
  now?: () => number;
}

interface SourceState {
  spec: ProfileSource;
  parser: SourceParser;
  matches: (name: string) => boolean;
  cursors: Map<string, FileCursor>;
  /** Files with an entry still open at their end, and since when it has not grown. */
  openSince: Map<string, { end: number; since: number }>;
  files: number;
  lastEventAt: string | null;
  errors: number;
  lastError: CodedError | null;
  watcher: FSWatcher | null;
}

export class Collector {
  private readonly sources: SourceState[];
  private readonly dirty = new Set<SourceState>();
  private running: Promise<void> | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  private stopped = true;
  private readonly settleMs: number;
  private readonly now: () => number;

  constructor(
    specs: readonly ProfileSource[],
    private readonly outbox: Outbox,
    private readonly log: Logger,
    private readonly options: CollectorOptions,
  ) {
    this.settleMs = options.settleMs ?? 250;
    this.now = options.now ?? Date.now;
    this.sources = specs.map((spec) => ({
      spec,
      parser: compileSource(spec),
      matches: fileMatcher(spec),
      cursors: new Map(),
      openSince: new Map(),
      files: 0,
      lastEventAt: null,
      errors: 0,
      lastError: null,
      watcher: null,
    }));
  }

  async start(): Promise<void> {
    this.stopped = false;
    for (const source of this.sources) {
      for (const c of await this.outbox.cursors(source.spec.id)) source.cursors.set(c.path, c);
      this.watch(source);
    }
    this.pollTimer = setInterval(() => this.scan(this.sources), this.options.pollIntervalMs);
    this.scan(this.sources);
    await this.running;
  }

  /** Stops reading; a pass under way finishes and commits first. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    await Promise.all(this.sources.map((s) => s.watcher?.close()));
    await this.running;
  }

  status(): SourceStatus[] {
    return this.sources.map((s) => ({
      id: s.spec.id,
      folder: s.spec.folder,
      files: s.files,
      lastEventAt: s.lastEventAt,
      errors: s.errors,
      lastError: s.lastError,
    }));
  }

  private watch(source: SourceState): void {
    const watcher = watch(source.spec.folder, { depth: 0, ignoreInitial: true });
    watcher.on('all', (_event, file) => {
      if (source.matches(path.basename(file))) this.scan([source]);
    });
    // A missing folder is reported by the scan; the watcher's own complaint adds nothing.
    watcher.on('error', () => undefined);
    source.watcher = watcher;
  }

  /** Marks sources for a pass; passes never overlap, so cursors are updated in turn. */
  private scan(sources: readonly SourceState[]): void {
    if (this.stopped) return;
    for (const s of sources) this.dirty.add(s);
    this.running ??= this.drain().finally(() => {
      this.running = null;
      if (this.dirty.size > 0) this.scan([]);
    });
  }

  private async drain(): Promise<void> {
    while (this.dirty.size > 0 && !this.stopped) {
      const batch = [...this.dirty];
      this.dirty.clear();
      for (const source of batch) await this.scanSource(source);
    }
  }

  private async scanSource(source: SourceState): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(source.spec.folder)).filter(source.matches).sort();
    } catch (err) {
      this.fail(
        source,
        'folder_unreadable',
        `cannot read ${source.spec.folder}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
      return;
    }
    source.files = names.length;
    for (const name of names) {
      if (this.stopped) return;
      try {
        await this.tailFile(source, name);
      } catch (err) {
        this.fail(source, 'read_failed', `${name}: ${(err as Error).message}`);
      }
    }
  }

  private async tailFile(source: SourceState, relPath: string): Promise<void> {
    const target = {
      source: source.spec.id,
      relPath,
      absPath: path.join(source.spec.folder, relPath),
      encoding: source.spec.encoding,
      parser: source.parser,
    };
    for (;;) {
      const open = source.openSince.get(relPath);
      const settled = open !== undefined && this.now() - open.since >= this.settleMs;
      const pass = await tailOnce(target, source.cursors.get(relPath), settled);
      if (!pass) return;
      await this.commit(source, relPath, pass);
      this.trackOpenEntry(source, relPath, pass);
      if (pass.atEof || this.stopped) return;
    }
  }

  private async commit(source: SourceState, relPath: string, pass: TailPass): Promise<void> {
    const items: NewItem[] = [];
    for (const entry of pass.entries) {
      const outcome = source.parser.parse(entry, relPath);
      items.push(...outcome.items);
      for (const problem of outcome.problems)
        this.fail(source, 'parse_failed', `${relPath}: ${problem}`);
    }
    if (pass.replacementChars > 0) {
      this.fail(
        source,
        'decode_invalid',
        `${relPath}: ${pass.replacementChars} undecodable bytes replaced`,
      );
    }
    if (pass.oversized)
      this.fail(source, 'line_too_long', `${relPath}: a line longer than one read was cut`);
    const previous = source.cursors.get(relPath);
    const moved =
      !previous ||
      previous.offset !== pass.cursor.offset ||
      previous.identity !== pass.cursor.identity ||
      previous.fingerprint !== pass.cursor.fingerprint;
    if (items.length === 0 && !moved) return;
    await this.outbox.append(items, [pass.cursor]);
    source.cursors.set(relPath, pass.cursor);
    const last = items[items.length - 1];
    if (last) source.lastEventAt = last.ts;
  }

  private trackOpenEntry(source: SourceState, relPath: string, pass: TailPass): void {
    if (!pass.open || !pass.atEof) {
      source.openSince.delete(relPath);
      return;
    }
    const known = source.openSince.get(relPath);
    if (!known || known.end !== pass.open.end) {
      source.openSince.set(relPath, { end: pass.open.end, since: this.now() });
    }
    // Come back once the entry has had time to settle, even if nothing else happens.
    this.settleTimer ??= setTimeout(() => {
      this.settleTimer = null;
      this.scan(this.sources.filter((s) => s.openSince.size > 0));
    }, this.settleMs);
  }

  private fail(source: SourceState, code: string, message: string): void {
    // A lasting condition (a missing folder) is one problem, not one per scan.
    if (source.lastError?.message === message) return;
    source.errors++;
    source.lastError = { code, message };
    this.log.warn({ source: source.spec.id, code }, message);
  }
}
