// How fast the machine is at one moment: a fixed piece of CPU work run on every core at once,
// as the agent's ingest loads them. This machine's cores gave between one and two cores'
// worth of such work from one minute to the next, with no steal time the guest could see:
// an ingest's rate follows, and the reference taken around it tells which machine it met.
import os from 'node:os';
import { Worker } from 'node:worker_threads';

// Strings made, written as JSON and searched: the kind of work the agent does per line.
const WORK = `
const { parentPort } = require('node:worker_threads');
const start = performance.now();
let sink = 0;
for (let i = 0; i < 400000; i++) {
  const text = JSON.stringify(['2025-05-11T08:00:04.236+02:00', 'em-server', i / 7, 'mbar']);
  sink += text.indexOf('mbar') + (/e-?\\d/.test(text) ? 1 : 0);
}
parentPort.postMessage({ ms: performance.now() - start, sink });
`;

/** Milliseconds the slowest core took for the fixed work, all cores working at once. */
export async function machineReferenceMs(): Promise<number> {
  const cores = Math.max(1, os.availableParallelism());
  const times = await Promise.all(
    Array.from({ length: cores }, () => {
      const worker = new Worker(WORK, { eval: true });
      return new Promise<number>((resolve, reject) => {
        worker.once('message', ({ ms }: { ms: number }) => resolve(ms));
        worker.once('error', reject);
      }).finally(() => void worker.terminate());
    }),
  );
  return Math.max(...times);
}
