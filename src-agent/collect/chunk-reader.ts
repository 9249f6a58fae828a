// Where chunks are read and parsed: on the agent's own thread, or in a worker thread. A
// backfill is bound by the parsing of its entries; in a worker, that parsing runs beside
// the outbox's commits and the connection on the main thread, on the machine's second core.
import { Worker } from 'node:worker_threads';
import type { ProfileSource } from '../profiles/schema.ts';
import { compileSources, readChunk, type Chunk, type ChunkRequest } from './chunk.ts';

export interface ChunkReader {
  read(request: ChunkRequest): Promise<Chunk | null>;
  close(): Promise<void>;
}

export interface WorkerInit {
  sources: readonly ProfileSource[];
}
export interface WorkerRequest {
  id: number;
  request: ChunkRequest;
}
export type WorkerReply =
  { id: number; chunk: Chunk | null } | { id: number; error: { message: string; code?: string } };

export function localReader(sources: readonly ProfileSource[]): ChunkReader {
  const parsers = compileSources(sources);
  return { read: (request) => readChunk(parsers, request), close: async () => undefined };
}

/** Runs `module` (chunk-worker.ts, as built) in a worker thread and reads through it. */
export class WorkerReader implements ChunkReader {
  private readonly worker: Worker;
  private readonly waiting = new Map<
    number,
    { resolve: (chunk: Chunk | null) => void; reject: (err: Error) => void }
  >();
  private nextId = 0;
  /** Why the worker cannot read any more; set once, for good. */
  private failure: Error | null = null;

  constructor(module: URL, sources: readonly ProfileSource[]) {
    this.worker = new Worker(module, { workerData: { sources } satisfies WorkerInit });
    this.worker.on('message', (reply: WorkerReply) => {
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if ('chunk' in reply) waiter.resolve(reply.chunk);
      else waiter.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    });
    this.worker.on('error', (err) => this.fail(`the parse worker failed: ${err.message}`));
    this.worker.on('exit', (code) => this.fail(`the parse worker exited with code ${code}`));
  }

  /** The worker has failed or was closed: a new one is needed to read on. */
  get failed(): boolean {
    return this.failure !== null;
  }

  read(request: ChunkRequest): Promise<Chunk | null> {
    if (this.failure) return Promise.reject(this.failure);
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, request } satisfies WorkerRequest);
    });
  }

  async close(): Promise<void> {
    this.fail('the parse worker was closed');
    await this.worker.terminate();
  }

  private fail(reason: string): void {
    this.failure ??= new Error(reason);
    for (const waiter of this.waiting.values()) waiter.reject(this.failure);
    this.waiting.clear();
  }
}
