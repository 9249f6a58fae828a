import { describe, expect, it } from 'vitest';
import { handle, send } from '../../src-main/ipc.ts';
import type { StatusSnapshot } from '../../src-main/ipc-contract.ts';
import { electron, FakeBrowserWindow } from './setup-electron-mock.ts';

const pageUrl = 'file:///opt/ScopeLink/resources/app.asar/out/renderer/index.html';
// The handler passes the snapshot through untouched, so its contents do not matter here.
const snapshot = { updatedAt: '2025-01-01T00:00:00.000Z' } as StatusSnapshot;

function setUp() {
  const window = new FakeBrowserWindow({});
  let open: FakeBrowserWindow | null = window;
  const remove = handle(
    'status:get',
    // The fake stands in for the real window, which the wrapper compares by identity only.
    { window: () => open as never, pageUrl },
    () => snapshot,
  );
  const eventFrom = (
    sender: FakeBrowserWindow,
    frame: { url: string; parent: unknown } | null = { url: pageUrl, parent: null },
  ) => ({ sender: sender.webContents, senderFrame: frame });
  const close = () => {
    open = null;
  };
  return { window, eventFrom, close, remove };
}

describe('the IPC wrapper', () => {
  it('answers status:get for the app window', async () => {
    const { window, eventFrom } = setUp();
    await expect(electron.ipcMain.invoke('status:get', eventFrom(window))).resolves.toBe(snapshot);
  });

  it('accepts the app page with a fragment or query', async () => {
    const { window, eventFrom } = setUp();
    const event = eventFrom(window, { url: `${pageUrl}?lang=ja#/sources`, parent: null });
    await expect(electron.ipcMain.invoke('status:get', event)).resolves.toBe(snapshot);
  });

  it('rejects a sender from another window', async () => {
    const { eventFrom } = setUp();
    const stranger = new FakeBrowserWindow({});
    await expect(electron.ipcMain.invoke('status:get', eventFrom(stranger))).rejects.toThrow(
      /^forbidden:/,
    );
  });

  it('rejects our window once it shows another page', async () => {
    const { window, eventFrom } = setUp();
    const event = eventFrom(window, { url: 'https://example.com/index.html', parent: null });
    await expect(electron.ipcMain.invoke('status:get', event)).rejects.toThrow(/^forbidden:/);
  });

  it('rejects a subframe, even one showing the app page', async () => {
    const { window, eventFrom } = setUp();
    const event = eventFrom(window, { url: pageUrl, parent: { url: pageUrl } });
    await expect(electron.ipcMain.invoke('status:get', event)).rejects.toThrow(/^forbidden:/);
  });

  it('rejects a sender whose frame is gone', async () => {
    const { window, eventFrom } = setUp();
    await expect(electron.ipcMain.invoke('status:get', eventFrom(window, null))).rejects.toThrow(
      /^forbidden:/,
    );
  });

  it('rejects everyone while the window is closed', async () => {
    const { window, eventFrom, close } = setUp();
    close();
    await expect(electron.ipcMain.invoke('status:get', eventFrom(window))).rejects.toThrow(
      /^forbidden:/,
    );
  });

  it('rejects arguments the channel does not take', async () => {
    const { window, eventFrom } = setUp();
    await expect(
      electron.ipcMain.invoke('status:get', eventFrom(window), { all: true }),
    ).rejects.toThrow(/^bad_request: status:get/);
  });

  it('removes its handler', () => {
    const { remove } = setUp();
    remove();
    expect(electron.ipcMain.handlers.has('status:get')).toBe(false);
  });
});

describe('send', () => {
  it('pushes to a live window and skips a destroyed one', () => {
    const window = new FakeBrowserWindow({});
    const contents = window.webContents as never;
    send(contents, 'status:changed', snapshot);
    window.webContents.destroyed = true;
    send(contents, 'status:changed', snapshot);
    expect(window.webContents.sent).toEqual([['status:changed', snapshot]]);
  });
});
