// A parse worker's thread (see parse-pool.ts): parses the entries of one read per request.
// Built as its own module beside the agent's bundle (scripts/build-agent.mjs).
import { parentPort, workerData } from 'node:worker_threads';
import { compileSources, parseJob } from './parse-job.ts';
import type { WorkerInit, WorkerReply, WorkerRequest } from './parse-pool.ts';

const port = parentPort;
if (!port) throw new Error('parse-worker runs only as a worker thread');
const parsers = compileSources((workerData as WorkerInit).sources);

port.on('message', ({ id, job }: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    // A source it has no parser for is refused by parseJob, with its name.
    reply = { id, parsed: parseJob(parsers, job) };
  } catch (err) {
    reply = { id, error: { message: (err as Error).message } };
  }
  port.postMessage(reply);
});
