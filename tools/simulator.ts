// Writes ever-changing instrument logs in the formats of ../shared/samples, so the demo and
// tests can watch the agent collect live data.
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import iconv from 'iconv-lite';
import { random } from './simulator/common.ts';
import type { Entry } from './simulator/common.ts';
import { emInitial, emStep } from './simulator/em.ts';
import type { EmState } from './simulator/em.ts';
import { lmInitial, lmStep } from './simulator/lm.ts';
import type { LmState } from './simulator/lm.ts';
import { xrmInitial, xrmStep } from './simulator/xrm.ts';
import type { XrmState } from './simulator/xrm.ts';

export type { Entry, LogFile } from './simulator/common.ts';

export type Kind = 'em' | 'lm' | 'xrm';
export type SimState = EmState | LmState | XrmState;

export const DEFAULT_XRM_VERSION = '16.0.6361.34485';

export function initialState(kind: Kind, seed: number, xrmVersion = DEFAULT_XRM_VERSION): SimState {
  switch (kind) {
    case 'em':
      return emInitial(seed);
    case 'lm':
      return lmInitial(seed);
    case 'xrm':
      return xrmInitial(seed, xrmVersion);
  }
}

/** The next log entry at time `now` (epoch ms, printed in local time); `state` is not modified. */
export function nextLines<S extends SimState>(state: S, now: number): { state: S; entry: Entry } {
  const next = structuredClone(state);
  const s: SimState = next;
  const r = random(s);
  const entry =
    s.kind === 'em' ? emStep(s, r, now) : s.kind === 'lm' ? lmStep(s, r, now) : xrmStep(s, r, now);
  return { state: next, entry };
}

/** Appends an entry's lines, CRLF-terminated, in one write; creates folders and the BOM. */
export async function appendEntry(root: string, { file, lines }: Entry): Promise<void> {
  const target = path.join(root, ...file.path.split('/'));
  await mkdir(path.dirname(target), { recursive: true });
  const handle = await open(target, 'a');
  try {
    const text = lines.map((line) => `${line}\r\n`).join('');
    const fresh = (await handle.stat()).size === 0;
    await handle.appendFile(
      iconv.encode(file.bom && fresh ? `\ufeff${text}` : text, file.encoding),
    );
  } finally {
    await handle.close();
  }
}

export interface SimulatorOptions {
  root: string;
  kinds?: Kind[];
  /** Entries per second for each kind. */
  linesPerSecond?: number;
  seed?: number;
  xrmVersion?: string;
}

export interface Simulator {
  /** Stops the timers and waits for pending writes; rejects with the first write error. */
  stop(): Promise<void>;
  /** Physical lines written so far, stack-trace continuation lines included. */
  written(): number;
}

export function startSimulator(options: SimulatorOptions): Simulator {
  const { root, kinds = ['em', 'lm', 'xrm'], linesPerSecond = 5, xrmVersion } = options;
  if (!(linesPerSecond > 0)) throw new RangeError(`linesPerSecond must be > 0: ${linesPerSecond}`);
  const seed = options.seed ?? Date.now() >>> 0;
  let written = 0;
  let failure: { error: unknown } | undefined;
  // One chain for all kinds: appends stay in timestamp order and never overlap on a file.
  let pending = Promise.resolve();

  const timers = kinds.map((kind, i) => {
    let state = initialState(kind, (seed + i * 0x9e3779b9) | 0, xrmVersion);
    return setInterval(() => {
      const step = nextLines(state, Date.now());
      state = step.state;
      pending = pending.then(async () => {
        if (failure) return;
        try {
          await appendEntry(root, step.entry);
          written += step.entry.lines.length;
        } catch (error) {
          failure = { error };
          halt();
        }
      });
    }, 1000 / linesPerSecond);
  });
  const halt = () => timers.forEach((timer) => clearInterval(timer));

  return {
    async stop() {
      halt();
      await pending;
      if (failure) throw failure.error;
    },
    written: () => written,
  };
}
