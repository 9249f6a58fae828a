// The parse worker's thread (see chunk-reader.ts): reads and parses chunks on request.
// Built as its own module beside the agent's bundle (scripts/build-agent.mjs).
import { parentPort, workerData } from 'node:worker_threads';
import type { WorkerInit, WorkerReply, WorkerRequest } from './chunk-reader.ts';
import { compileSources, readChunk } from './chunk.ts';

const port = parentPort;
if (!port) throw new Error('chunk-worker runs only as a worker thread');
const parsers = compileSources((workerData as WorkerInit).sources);

port.on('message', ({ id, request }: WorkerRequest) => {
  readChunk(parsers, request).then(
    (chunk) => port.postMessage({ id, chunk } satisfies WorkerReply),
    (err: NodeJS.ErrnoException) =>
      port.postMessage({
        id,
        error: { message: err.message, code: err.code },
      } satisfies WorkerReply),
  );
});
