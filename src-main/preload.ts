// Runs sandboxed: it may import only `electron` (at run time) and must stay a single CommonJS
// file, so it takes nothing but types from the contract.
import { contextBridge, ipcRenderer } from 'electron';
import type { IpcRendererEvent } from 'electron';
import type {
  InvokeArgs,
  InvokeChannel,
  InvokeResult,
  PushChannel,
  PushChannels,
  ScopeLinkApi,
} from './ipc-contract.ts';

function invoke<K extends InvokeChannel>(
  channel: K,
  ...args: InvokeArgs<K>
): Promise<InvokeResult<K>> {
  return ipcRenderer.invoke(channel, ...args) as Promise<InvokeResult<K>>;
}

function subscribe<K extends PushChannel>(
  channel: K,
  listener: (payload: PushChannels[K]) => void,
): () => void {
  // The event carries the sender; the page gets the payload alone.
  const forward = (_event: IpcRendererEvent, payload: PushChannels[K]) => listener(payload);
  ipcRenderer.on(channel, forward);
  return () => {
    ipcRenderer.removeListener(channel, forward);
  };
}

const api: ScopeLinkApi = {
  getStatus: () => invoke('status:get'),
  onStatus: (listener) => subscribe('status:changed', listener),
};

contextBridge.exposeInMainWorld('scopelink', api);
