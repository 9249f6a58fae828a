// The one IPC contract between the main process and the renderer. The renderer and the
// preload import only its types; the argument schemas are for the main process, which
// must not trust anything a renderer sends.
import * as z from 'zod';
import type { StatusSnapshot } from '../src-agent/status.ts';

export type {
  CodedError,
  ConnectionState,
  SourceProblem,
  SourceStatus,
  StatusSnapshot,
} from '../src-agent/status.ts';

/** Requests from the renderer, answered by the main process (`ipcRenderer.invoke`). */
export interface InvokeChannels {
  'status:get': { args: []; result: StatusSnapshot };
}

/** Messages the main process pushes to the renderer (`webContents.send`). */
export interface PushChannels {
  'status:changed': StatusSnapshot;
}

export type InvokeChannel = keyof InvokeChannels;
export type InvokeArgs<K extends InvokeChannel> = InvokeChannels[K]['args'];
export type InvokeResult<K extends InvokeChannel> = InvokeChannels[K]['result'];
export type PushChannel = keyof PushChannels;

export const invokeArgSchemas: { [K in InvokeChannel]: z.ZodType<InvokeArgs<K>> } = {
  'status:get': z.tuple([]),
};

/** What the preload exposes to the renderer as `window.scopelink`. */
export interface ScopeLinkApi {
  getStatus(): Promise<StatusSnapshot>;
  /** Returns a function that ends the subscription. */
  onStatus(listener: (status: StatusSnapshot) => void): () => void;
}
