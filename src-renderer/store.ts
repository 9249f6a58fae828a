import { create } from 'zustand';
import type { ScopeLinkApi, StatusSnapshot } from '../src-main/ipc-contract.ts';

export interface StatusState {
  status: StatusSnapshot | null;
  /** Why the first status could not be read, if it could not. */
  error: string | null;
}

export const useStatusStore = create<StatusState>(() => ({ status: null, error: null }));

function newer(current: StatusSnapshot | null, next: StatusSnapshot): boolean {
  return current === null || Date.parse(next.updatedAt) >= Date.parse(current.updatedAt);
}

/** Feeds the store from the main process; returns a function that stops it. */
export function connectStatus(api: ScopeLinkApi): () => void {
  const accept = (status: StatusSnapshot) =>
    useStatusStore.setState((state) =>
      newer(state.status, status) ? { status, error: null } : {},
    );
  // Subscribe first so that no change is missed; a push may then overtake the first answer.
  const unsubscribe = api.onStatus(accept);
  api.getStatus().then(accept, (error: unknown) => {
    useStatusStore.setState((state) =>
      state.status ? {} : { error: error instanceof Error ? error.message : String(error) },
    );
  });
  return unsubscribe;
}
