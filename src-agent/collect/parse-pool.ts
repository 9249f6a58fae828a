// Where entries are parsed: on the agent's own thread, or by a pool of worker threads while
// there is a backlog. Parsing is most of what a backfill costs; in workers it runs beside
// the reads, the outbox's commits and the connection on the main thread, and on as many
// cores as the pool has workers. In the Electron host, it keeps the main process free too.
import { Worker } from 'node:worker_threads';
import type { ProfileSource } from '../profiles/schema.ts';
import { transferables } from './read-entries.ts';
import { parseJob, type ParsedBatch, type ParseJob, type SourceParsers } from './parse-job.ts';

export interface EntryParser {
  parse(job: ParseJob): Promise<ParsedBatch>;
}

export interface WorkerInit {
  sources: readonly ProfileSource[];
}
export interface WorkerRequest {
  id: number;
  job: ParseJob;
}
export type WorkerReply =
  { id: number; parsed: ParsedBatch } | { id: number; error: { message: string } };

/** A worker that cannot parse any more: not the fault of the read it was given. */
export class ParseWorkerFailure extends Error {}

export function localParser(parsers: SourceParsers): EntryParser {
  return {
    parse: (job) => {
      try {
        return Promise.resolve(parseJob(parsers, job));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },
  };
}

/** Worker threads running `module` (parse-worker.ts, as built); each job goes to the least busy. */
export class ParsePool implements EntryParser {
  private readonly workers: ParseWorker[];

  constructor(module: URL, sources: readonly ProfileSource[], size: number) {
    this.workers = Array.from(
      { length: Math.max(1, size) },
      () => new ParseWorker(module, sources),
    );
  }

  get size(): number {
    return this.workers.length;
  }

  /** A worker has failed or the pool was closed: it parses no more. */
  get failed(): boolean {
    return this.workers.some((w) => w.failure !== null);
  }

  /** Why a worker failed, if one did on its own (not by a close). */
  private get cause(): Error | null {
    return this.workers.find((w) => w.failure !== null)?.failure ?? null;
  }

  parse(job: ParseJob): Promise<ParsedBatch> {
    let idlest = this.workers[0]!;
    for (const worker of this.workers) if (worker.pending < idlest.pending) idlest = worker;
    return idlest.parse(job);
  }

  /** Fails the jobs still waiting: with the reason one worker failed, so that it is the one told. */
  async close(): Promise<void> {
    const cause = this.cause;
    await Promise.all(this.workers.map((w) => w.close(cause)));
  }
}

class ParseWorker {
  private readonly worker: Worker;
  private readonly waiting = new Map<
    number,
    { resolve: (parsed: ParsedBatch) => void; reject: (err: Error) => void }
  >();
  private nextId = 0;
  /** Why this worker cannot parse any more; set once, for good. */
  failure: Error | null = null;

  constructor(module: URL, sources: readonly ProfileSource[]) {
    this.worker = new Worker(module, { workerData: { sources } satisfies WorkerInit });
    this.worker.on('message', (reply: WorkerReply) => {
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if ('parsed' in reply) waiter.resolve(reply.parsed);
      else waiter.reject(new Error(reply.error.message));
    });
    this.worker.on('error', (err) =>
      this.fail(new ParseWorkerFailure(`the parse worker failed: ${err.message}`)),
    );
    this.worker.on('exit', (code) =>
      this.fail(new ParseWorkerFailure(`the parse worker exited with code ${code}`)),
    );
  }

  get pending(): number {
    return this.waiting.size;
  }

  parse(job: ParseJob): Promise<ParsedBatch> {
    if (this.failure) return Promise.reject(this.failure);
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, job } satisfies WorkerRequest, transferables(job.read));
    });
  }

  async close(cause: Error | null): Promise<void> {
    this.fail(cause ?? new ParseWorkerFailure('the parse worker was closed'));
    await this.worker.terminate();
  }

  private fail(reason: Error): void {
    this.failure ??= reason;
    for (const waiter of this.waiting.values()) waiter.reject(this.failure);
    this.waiting.clear();
  }
}
