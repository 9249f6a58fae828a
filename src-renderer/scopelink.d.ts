import type { ScopeLinkApi } from '../src-main/ipc-contract.ts';

declare global {
  interface Window {
    /** The preload's verbs; the renderer has no other way to the main process. */
    readonly scopelink: ScopeLinkApi;
  }
}
