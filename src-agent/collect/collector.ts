// Watches the sources' folders and feeds new entries through the parsers into the
// outbox. The file watcher makes it prompt; the periodic scan makes it sure (network
// folders and missed events). Rotation is followed by file identity, so the end of a
// renamed file is read before its successor, and nothing is read twice.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../log.ts';
import type { FileCursor, Outbox } from '../outbox/outbox.ts';
import { StorageError } from '../outbox/storage-error.ts';
import type { ProfileSource } from '../profiles/schema.ts';
import type { CodedError, SourceProblem, SourceStatus } from '../status.ts';
import type { ItemBatch } from '../outbox/batch.ts';
import { compileSources, readProblems, type ParsedBatch, type SourceParsers } from './parse-job.ts';
import { localParser, ParsePool, ParseWorkerFailure, type EntryParser } from './parse-pool.ts';
import { ReadQueue } from './read-queue.ts';
import { resolveFolder } from './folders.ts';
import { fileMatcher } from './sources.ts';
import {
  fingerprint,
  isSameFile,
  probeFile,
  tailOnce,
  type FileTarget,
  type TailPass,
} from './tail.ts';

/**
 * How long a rotated file renamed out of the source's pattern is still read: the writer may
 * hold it open and add its last lines after the rename.
 */
export const ROTATED_GRACE_MS = 10_000;
/** What a folder's problem is about (a file's is about its name): see SourceState.lastErrorOf. */
const FOLDER = Symbol('folder');

export interface BackfillLimits {
  maxAgeDays: number;
  maxBytes: number;
}

export interface CollectorOptions {
  pollIntervalMs: number;
  backfill: BackfillLimits;
  /** How long an entry at the end of a file waits for continuation lines. */
  settleMs?: number;
  now?: () => number;
  /** Called once the files are read to their ends after a large read (a backfill). */
  releaseMemory?: () => void;
  /**
   * The parse workers' module (parse-worker.ts as built). Without it, all entries are parsed
   * on this thread.
   */
  parseWorker?: URL;
  /** How many parse workers a backlog gets (0: none); 2 when not said. */
  parseThreads?: number;
  /** A file with at least this much left to read is parsed by the workers. */
  workerAfterBytes?: number;
}

/** A read on its way to the outbox: what its commit needs. */
interface ParsingRead {
  cursor: FileCursor;
  /** What went wrong with the read as a whole (its entries' problems come with the batch). */
  problems: CodedError[];
  parsed: Promise<ParsedBatch>;
}

/** Reads parsed or being parsed, not yet committed: a bound on memory when commits lag. */
const MAX_READS_AHEAD = 6;
/** After reading this much, catching up is worth a full garbage collection. */
export const RELEASE_AFTER_BYTES = 4 * 1024 * 1024;
/**
 * A backlog this large is parsed in worker threads: starting them costs about 50 ms and some
 * memory, which only a backfill or a burst repays. They stop once the files are read. At the
 * collector's start they are started in any case (see start).
 */
export const WORKER_AFTER_BYTES = 4 * 1024 * 1024;

interface SourceState {
  spec: ProfileSource;
  matches: (name: string) => boolean;
  /** Keyed by path relative to `base`. */
  cursors: Map<string, FileCursor>;
  folder: string | null;
  base: string;
  /** No cursor existed at start: the files found by the first scan are backfilled within limits. */
  firstScan: boolean;
  /** Files with an entry still open at their end, and since when it has not grown. */
  openSince: Map<string, { end: number; since: number }>;
  /** Rotated files renamed out of the pattern, by cursor path, and since when they are read. */
  rotatedSince: Map<string, number>;
  files: number;
  lastEventAt: string | null;
  errors: number;
  lastError: SourceProblem | null;
  /**
   * What `lastError` is about while it may pass: the folder, or a file that could not be
   * read. Once that reads again, the status no longer shows it; null for a problem that is
   * over once met (an entry that could not be parsed) or that lasts (a failed worker).
   */
  lastErrorOf: string | typeof FOLDER | null;
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
  private readSinceRelease = 0;
  /** Compiled here, which also checks them at start; the workers compile their own. */
  private readonly parsers: SourceParsers;
  private readonly local: EntryParser;
  private pool: ParsePool | null = null;
  private poolFailed = false;
  /** The outbox refused a write: reading waits (cursors stay put) until a write succeeds. */
  storageError: StorageError | null = null;

  constructor(
    specs: readonly ProfileSource[],
    private readonly outbox: Outbox,
    private readonly log: Logger,
    private readonly options: CollectorOptions,
  ) {
    this.settleMs = options.settleMs ?? 250;
    this.now = options.now ?? Date.now;
    this.parsers = compileSources(specs);
    this.local = localParser(this.parsers);
    this.sources = specs.map((spec) => ({
      spec,
      matches: fileMatcher(spec),
      cursors: new Map(),
      folder: null,
      base: spec.folder,
      firstScan: false,
      openSince: new Map(),
      rotatedSince: new Map(),
      files: 0,
      lastEventAt: null,
      errors: 0,
      lastError: null,
      lastErrorOf: null,
      watcher: null,
    }));
  }

  async start(): Promise<void> {
    this.stopped = false;
    // A start is when backlogs are found: the first one, or files written while the agent was
    // stopped. The workers boot now, beside the loading of the cursors and the connection's
    // set-up, rather than after the first read; if the first scan finds no backlog, it closes
    // them again (drain).
    this.startPool();
    for (const source of this.sources) {
      for (const c of await this.outbox.cursors(source.spec.id)) source.cursors.set(c.path, c);
      source.firstScan = source.cursors.size === 0;
    }
    // Stopped while the cursors were loading: no timer may outlive stop().
    if (this.stopped) return;
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
    await this.stopPool();
  }

  status(): SourceStatus[] {
    return this.sources.map((s) => ({
      id: s.spec.id,
      folder: s.folder ?? s.spec.folder,
      files: s.files,
      lastEventAt: s.lastEventAt,
      errors: s.errors,
      lastError: s.lastError,
    }));
  }

  private follow(source: SourceState, folder: string): void {
    if (source.folder === folder && source.watcher) return;
    void source.watcher?.close();
    source.folder = folder;
    const watcher = watch(folder, { depth: 0, ignoreInitial: true });
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
    // Caught up: the workers' threads and heaps are not kept for the next backfill.
    await this.stopPool();
    if (this.readSinceRelease >= RELEASE_AFTER_BYTES && !this.stopped) {
      this.readSinceRelease = 0;
      this.options.releaseMemory?.();
    }
  }

  private async scanSource(source: SourceState): Promise<void> {
    let names: string[];
    let switched: boolean;
    try {
      const { folder, base } = await resolveFolder(source.spec.folder);
      switched = source.folder !== folder;
      source.base = base;
      this.follow(source, folder);
      names = (await readdir(folder)).filter(source.matches).sort(naturalOrder);
      this.readsAgain(source, FOLDER);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.fail(
        source,
        'folder_unreadable',
        `cannot read ${source.folder ?? source.spec.folder}: ${reason}`,
        FOLDER,
      );
      return;
    }
    try {
      if (switched) await this.finishOtherFolders(source);
    } catch (err) {
      if (err instanceof StorageError) return this.storageFailed(err);
      throw err;
    }
    source.files = names.length;
    for (const name of names) {
      if (this.stopped) return;
      try {
        await this.tailFile(source, name);
        this.readsAgain(source, name);
      } catch (err) {
        if (err instanceof StorageError) return this.storageFailed(err);
        const message = `${name}: ${(err as Error).message}`;
        // A worker that failed is no fault of the file, and lasts: parsing goes on here.
        if (err instanceof ParseWorkerFailure) this.fail(source, 'parse_worker_failed', message);
        else this.fail(source, 'read_failed', message, name);
      }
    }
    try {
      if (!this.stopped) await this.forgetVanished(source, new Set(names));
    } catch (err) {
      if (err instanceof StorageError) return this.storageFailed(err);
      throw err;
    }
    source.firstScan = false;
  }

  private target(source: SourceState, name: string): FileTarget {
    const abs = path.join(source.folder!, name);
    return {
      source: source.spec.id,
      relPath: path.relative(source.base, abs),
      absPath: abs,
      encoding: source.spec.encoding,
    };
  }

  private async tailFile(source: SourceState, name: string): Promise<void> {
    const target = this.target(source, name);
    const probe = await probeFile(target.absPath);
    if (!probe) return;
    const known = source.cursors.get(target.relPath);
    if (known && !isSameFile(known, probe)) {
      // Rename-and-recreate: the old file lives on under another name; finish it first.
      await this.finishRotated(source, target, known);
    } else if (!known) {
      await this.startCursor(source, target, probe);
    }
    // What is left to read decides, before the first read, whether the workers parse it.
    const offset = source.cursors.get(target.relPath)?.offset ?? 0;
    await this.readToEnd(source, target, probe.identity, false, probe.size - offset);
  }

  /** Where to start a file never seen: where it was read under another name, or a backfill limit. */
  private async startCursor(
    source: SourceState,
    target: FileTarget,
    probe: NonNullable<Awaited<ReturnType<typeof probeFile>>>,
  ): Promise<void> {
    const moved = [...source.cursors.values()].find(
      (c) => c.identity === probe.identity && isSameFile(c, probe),
    );
    let offset = moved?.offset ?? 0;
    if (!moved && source.firstScan) {
      const { maxAgeDays, maxBytes } = this.options.backfill;
      const tooOld = maxAgeDays > 0 && this.now() - probe.mtimeMs > maxAgeDays * 86_400_000;
      if (tooOld) offset = probe.size;
      else if (maxBytes > 0 && probe.size > maxBytes) offset = (probe.size - maxBytes) & ~1;
      if (offset > 0) {
        this.log.info(
          { source: source.spec.id },
          `${target.relPath}: backfill starts at byte ${offset} of ${probe.size}`,
        );
      }
    }
    if (offset === 0) return;
    const cursor = {
      source: source.spec.id,
      path: target.relPath,
      identity: probe.identity,
      fingerprint: fingerprint(probe.head),
      offset,
    };
    await this.outbox.append([], [cursor]);
    source.cursors.set(target.relPath, cursor);
  }

  /** Reads the end of the file `known` was reading; returns its cursor path now, or null if gone. */
  private async finishRotated(
    source: SourceState,
    target: FileTarget,
    known: FileCursor,
  ): Promise<string | null> {
    const rotated = await this.findByIdentity(source, known);
    if (!rotated) return null;
    const relPath = path.relative(source.base, rotated);
    if (relPath !== target.relPath) {
      this.log.info(
        { source: source.spec.id },
        `${target.relPath} was rotated to ${path.basename(rotated)}: reading its end`,
      );
    }
    await this.readToEnd(source, { ...target, absPath: rotated }, known.identity, true);
    const finished = source.cursors.get(target.relPath);
    if (finished && relPath !== target.relPath) {
      // Carry on from here under its new name, not from its start: for good where this
      // source reads that name too, else for a grace period (see forgetVanished).
      const cursor = { ...finished, path: relPath };
      await this.outbox.append([], [cursor]);
      source.cursors.set(relPath, cursor);
      if (!source.matches(path.basename(rotated))) {
        source.rotatedSince.set(relPath, source.rotatedSince.get(target.relPath) ?? this.now());
      }
    }
    return relPath;
  }

  /** The file in the source's folder that the cursor was reading, under whatever name it has now. */
  private async findByIdentity(source: SourceState, cursor: FileCursor): Promise<string | null> {
    for (const name of await readdir(source.folder!).catch(() => [] as string[])) {
      const abs = path.join(source.folder!, name);
      const probe = await probeFile(abs).catch(() => null);
      if (probe && isSameFile(cursor, probe)) return abs;
    }
    return null;
  }

  /**
   * Files that are gone: read what their rotated remains still hold, then forget them. A file
   * rotated to a name out of the pattern is read on every scan for a grace period first: a
   * writer that still holds it open may add lines after the rename.
   */
  private async forgetVanished(source: SourceState, present: Set<string>): Promise<void> {
    for (const [relPath, cursor] of source.cursors) {
      const name = path.relative(source.folder!, path.join(source.base, relPath));
      if (name.includes(path.sep) || name.startsWith('..') || present.has(name)) continue;
      const livesAt = await this.finishRotated(source, this.target(source, name), cursor);
      const since = source.rotatedSince.get(relPath);
      if (livesAt === relPath && since !== undefined && this.now() - since < ROTATED_GRACE_MS) {
        continue;
      }
      await this.outbox.forgetCursor(source.spec.id, relPath);
      source.cursors.delete(relPath);
      source.openSince.delete(relPath);
      source.rotatedSince.delete(relPath);
    }
  }

  /**
   * Files in another version folder than the one now read (a newer version was installed, or
   * was while the agent was not running): what they hold is read once, to the end; after
   * that they are no longer followed. Their cursors stay, should the newer version go again.
   */
  private async finishOtherFolders(source: SourceState): Promise<void> {
    for (const [relPath, cursor] of source.cursors) {
      const name = path.relative(source.folder!, path.join(source.base, relPath));
      if (!name.includes(path.sep) && !name.startsWith('..')) continue;
      const target = this.target(source, name);
      const probe = await probeFile(target.absPath).catch(() => null);
      if (probe && isSameFile(cursor, probe)) {
        await this.readToEnd(source, target, cursor.identity, true);
      }
    }
  }

  /**
   * Reads the file with `identity` at `target.absPath` to its end, while that is the file
   * there, read by read from its cursor. The reads run ahead of the parsers (see readAhead);
   * the commits follow strictly in order, each with its read's cursor, so that a crash at any
   * point loses nothing and stores nothing twice.
   */
  private async readToEnd(
    source: SourceState,
    target: FileTarget,
    identity: string,
    finish = false,
    backlog = 0,
  ): Promise<void> {
    const reads = new ReadQueue<ParsingRead>();
    const reading = this.readAhead(source, target, identity, finish, backlog, reads).finally(() =>
      reads.close(),
    );
    let cursor = source.cursors.get(target.relPath);
    let storing: Promise<void> = Promise.resolve();
    try {
      for (;;) {
        const next = reads.shift();
        if (!next) {
          if (reads.closed) break;
          await reads.changed();
          continue;
        }
        const { batch, problems, lastTs } = await next.parsed;
        for (const problem of [...next.problems, ...problems]) {
          this.fail(source, problem.code, problem.message);
        }
        const previous = cursor;
        cursor = next.cursor;
        this.readSinceRelease += Math.max(0, cursor.offset - (previous?.offset ?? 0));
        await storing;
        if (batch.count > 0 || movedOn(previous, cursor)) {
          storing = this.store(source, target.relPath, batch, cursor, lastTs);
          // Its failure is met at the next await: it may come while the loop waits for a parse.
          storing.catch(() => undefined);
        }
      }
      await storing;
      // A read that failed does so here, after the reads before it are stored.
      await reading;
    } finally {
      // Left by an error: the reader stops, the commit under way still ends before the next
      // scan begins, and what was parsed ahead is dropped (it changed nothing).
      reads.close();
      await storing.catch(() => undefined);
      await reading.catch(() => undefined);
      await Promise.allSettled(reads.drain().map((r) => r.parsed));
    }
  }

  /** The reading side of readToEnd: reads and hands out parse jobs until the file's end. */
  private async readAhead(
    source: SourceState,
    target: FileTarget,
    identity: string,
    finish: boolean,
    backlog: number,
    reads: ReadQueue<ParsingRead>,
  ): Promise<void> {
    const tailTarget = { ...target, parser: this.parsers.get(source.spec.id)! };
    let readTo = source.cursors.get(target.relPath);
    let remaining = backlog;
    let parsing = 0;
    // The file as first read here, and when: found the same at its end, it was not written
    // for as long as the reading took.
    let unwritten: { size: number; mtimeMs: number; since: number } | null = null;
    const parsed = () => {
      parsing--;
      reads.notify();
    };
    while (!reads.closed && !this.stopped) {
      const parser = this.parser(remaining);
      // Each worker has a read waiting behind the one it parses, and one more is on its way:
      // a worker that waited for this thread's next read idled a tenth of a backfill.
      const workers = parser instanceof ParsePool ? parser.size : 0;
      if (parsing > 2 * workers || reads.length >= MAX_READS_AHEAD) {
        await reads.changed();
        continue;
      }
      const settled = finish || this.hasSettled(source, target.relPath);
      const pass = await tailOnce(tailTarget, readTo, settled);
      if (!pass) return;
      if (pass.cursor.identity !== identity) {
        // Renamed since it was probed, and a new file took its name: reading that one from
        // its start now would skip the end of the renamed one. The next scan finishes it.
        this.dirty.add(source);
        return;
      }
      parsing++;
      const batch = parser.parse({
        source: source.spec.id,
        relPath: target.relPath,
        read: pass.read,
      });
      // A failure is met by the committer when its turn comes.
      batch.then(parsed, parsed);
      reads.push({
        cursor: pass.cursor,
        problems: readProblems(pass, target.relPath),
        parsed: batch,
      });
      readTo = pass.cursor;
      remaining = pass.size - pass.cursor.offset;
      if (!unwritten || unwritten.size !== pass.size || unwritten.mtimeMs !== pass.mtimeMs) {
        unwritten = { size: pass.size, mtimeMs: pass.mtimeMs, since: this.now() };
      }
      const openSettled = this.trackOpenEntry(source, target.relPath, pass, unwritten.since);
      // An entry left open by a backfill that took longer than the settling time, in a file
      // not written meanwhile, has settled: one more read ends it, where the settle timer
      // would have held it back (and the backfill's end with it) for another settleMs.
      if (openSettled && !settled) continue;
      if (pass.atEof) return;
    }
  }

  /**
   * This thread's parser, or the pool's while it runs: through the first scan, and while a
   * backlog is read.
   * Once a worker has failed, everything is parsed here: the read it failed on is read again,
   * from the same cursor, by the next scan.
   */
  private parser(remaining: number): EntryParser {
    if (this.pool?.failed) void this.takePool()?.close();
    if (remaining >= (this.options.workerAfterBytes ?? WORKER_AFTER_BYTES)) this.startPool();
    // Jobs wait in a starting worker's queue. Parsing the first reads here meanwhile was
    // slower on the whole: this thread compiled the parsers too, beside the workers.
    return this.pool ?? this.local;
  }

  /** Starts the parse workers, unless they run, have failed, or are not configured. */
  private startPool(): void {
    const { parseWorker, parseThreads = 2 } = this.options;
    if (this.pool || this.poolFailed || !parseWorker || parseThreads <= 0) return;
    this.pool = new ParsePool(
      parseWorker,
      this.sources.map((s) => s.spec),
      parseThreads,
    );
  }

  private async stopPool(): Promise<void> {
    await this.takePool()?.close();
  }

  private takePool(): ParsePool | null {
    const pool = this.pool;
    this.pool = null;
    if (pool?.failed && !this.poolFailed) {
      this.poolFailed = true;
      this.log.warn('a parse worker failed: parsing goes on in the main thread');
    }
    return pool;
  }

  private async store(
    source: SourceState,
    relPath: string,
    batch: ItemBatch,
    cursor: FileCursor,
    lastTs: string | null,
  ) {
    await this.outbox.appendBatch(batch, [cursor]);
    if (this.storageError) {
      this.log.info('the outbox accepts writes again: collection resumes');
      this.storageError = null;
    }
    source.cursors.set(relPath, cursor);
    if (lastTs) source.lastEventAt = lastTs;
  }

  /** Whether the entry open at the file's end has gone without a continuation for settleMs. */
  private hasSettled(source: SourceState, relPath: string): boolean {
    const open = source.openSince.get(relPath);
    return open !== undefined && this.now() - open.since >= this.settleMs;
  }

  /**
   * Notes the entry open at the end of the file, if any. `unwrittenSince`: since when the file
   * is known not to have been written. True if that entry has settled, to be read at once.
   */
  private trackOpenEntry(
    source: SourceState,
    relPath: string,
    pass: TailPass,
    unwrittenSince: number,
  ): boolean {
    if (!pass.open || !pass.atEof) {
      source.openSince.delete(relPath);
      return false;
    }
    const known = source.openSince.get(relPath);
    if (!known || known.end !== pass.open.end) {
      source.openSince.set(relPath, { end: pass.open.end, since: unwrittenSince });
    }
    if (this.hasSettled(source, relPath)) return true;
    // Come back once the entry has had time to settle, even if nothing else happens.
    this.settleTimer ??= setTimeout(() => {
      this.settleTimer = null;
      this.scan(this.sources.filter((s) => s.openSince.size > 0));
    }, this.settleMs);
    return false;
  }

  private storageFailed(err: StorageError): void {
    if (this.storageError?.message !== err.message) this.log.error({ code: err.code }, err.message);
    this.storageError = err;
  }

  private fail(
    source: SourceState,
    code: string,
    message: string,
    about: SourceState['lastErrorOf'] = null,
  ): void {
    // A lasting condition (a missing folder) is one problem, not one per scan.
    if (source.lastError?.message === message) return;
    source.errors++;
    source.lastError = { code, message, at: new Date(this.now()).toISOString() };
    source.lastErrorOf = about;
    this.log.warn({ source: source.spec.id, code }, message);
  }

  /** `what` reads again: the status no longer shows its problem (errors still count it). */
  private readsAgain(source: SourceState, what: string | typeof FOLDER): void {
    if (source.lastErrorOf !== what) return;
    source.lastError = null;
    source.lastErrorOf = null;
  }
}

/** XradiaApp_2.log before XradiaApp_10.log: numbered series are read in the order written. */
function naturalOrder(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true, sensitivity: 'base' });
}

/** Whether a read moved the cursor on, or onto another file: worth a commit even without items. */
function movedOn(previous: FileCursor | undefined, next: FileCursor): boolean {
  return (
    !previous ||
    previous.offset !== next.offset ||
    previous.identity !== next.identity ||
    previous.fingerprint !== next.fingerprint
  );
}
