import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ScopeLinkApi, StatusSnapshot } from '../../src-main/ipc-contract.ts';
import { electron } from './setup-electron-mock.ts';

const snapshot = { updatedAt: '2025-01-01T00:00:00.000Z' } as StatusSnapshot;

async function loadPreload(): Promise<Record<string, unknown>> {
  vi.resetModules();
  await import('../../src-main/preload.ts');
  const calls = electron.contextBridge.exposeInMainWorld.mock.calls;
  expect(calls).toHaveLength(1);
  const [key, api] = calls[0] ?? [];
  expect(key).toBe('scopelink');
  return api as Record<string, unknown>;
}

describe('the preload', () => {
  beforeEach(() => {
    electron.ipcRenderer.invoke.mockResolvedValue(snapshot);
  });

  it('exposes the verbs and nothing else', async () => {
    const api = await loadPreload();
    expect(Object.keys(api).sort()).toEqual(['getStatus', 'onStatus']);
    for (const value of Object.values(api)) {
      expect(typeof value).toBe('function');
      expect(value).not.toBe(electron.ipcRenderer);
    }
    expect(Object.values(api)).not.toContain(electron.ipcRenderer.invoke);
  });

  it('getStatus invokes status:get with no arguments', async () => {
    const api = (await loadPreload()) as unknown as ScopeLinkApi;
    await expect(api.getStatus()).resolves.toBe(snapshot);
    expect(electron.ipcRenderer.invoke).toHaveBeenCalledWith('status:get');
  });

  it('onStatus hands over the snapshot alone and unsubscribes', async () => {
    const api = (await loadPreload()) as unknown as ScopeLinkApi;
    const listener = vi.fn();
    const unsubscribe = api.onStatus(listener);
    electron.ipcRenderer.emit('status:changed', { sender: 'the event' }, snapshot);
    expect(listener).toHaveBeenCalledExactlyOnceWith(snapshot);

    unsubscribe();
    expect(electron.ipcRenderer.listenerCount('status:changed')).toBe(0);
  });
});
