import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { PARSE_WORKER } from '../../scripts/build-agent.mjs';
import type { StatusSnapshot } from '../../src-main/ipc-contract.ts';
import { electron, fakeEvent, FakeBrowserWindow, FakeTray } from './setup-electron-mock.ts';
import type { FakeMenuItem } from './setup-electron-mock.ts';

const agent = vi.hoisted(() => {
  class FakeEngine {
    static all: FakeEngine[] = [];
    static initial: unknown = null;
    static startError: Error | null = null;
    readonly listeners = new Set<(status: unknown) => void>();
    current = FakeEngine.initial;
    readonly start = vi.fn(() =>
      FakeEngine.startError ? Promise.reject(FakeEngine.startError) : Promise.resolve(),
    );
    readonly stop = vi.fn(() => Promise.resolve());

    constructor(
      readonly config: Record<string, unknown>,
      readonly options: Record<string, unknown>,
    ) {
      FakeEngine.all.push(this);
    }

    status(): unknown {
      return this.current;
    }

    onStatus(listener: (status: unknown) => void): () => void {
      this.listeners.add(listener);
      return () => this.listeners.delete(listener);
    }

    emit(status: unknown): void {
      this.current = status;
      for (const listener of this.listeners) listener(status);
    }
  }
  return { FakeEngine, loadConfigFile: vi.fn() };
});

vi.mock('../../src-agent/config/load.ts', () => ({ loadConfigFile: agent.loadConfigFile }));
vi.mock('../../src-agent/engine.ts', () => ({ Engine: agent.FakeEngine }));

const config = { dataDir: '/data', device: { id: 'EM-1', kind: 'em' } };

function snapshot(state: StatusSnapshot['connection']['state']): StatusSnapshot {
  // The shell reads only the connection state; the rest passes through untouched.
  return { connection: { state } } as StatusSnapshot;
}

/** Lets every promise the app is waiting on settle. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

async function startApp() {
  vi.resetModules();
  await import('../../src-main/index.ts');
  await settle();
  return { engine: agent.FakeEngine.all[0], tray: FakeTray.all[0] };
}

function menuItem(tray: FakeTray | undefined, label: string): FakeMenuItem {
  const item = tray?.contextMenu?.items.find((entry) => entry.label === label);
  if (!item) throw new Error(`no menu item ${label}`);
  return item;
}

beforeEach(() => {
  agent.FakeEngine.all = [];
  agent.FakeEngine.initial = snapshot('connecting');
  agent.FakeEngine.startError = null;
  agent.loadConfigFile.mockReset().mockResolvedValue(config);
  vi.unstubAllEnvs();
});

describe('the app', () => {
  it('loads the config named by SCOPELINK_CONFIG and starts the engine', async () => {
    vi.stubEnv('SCOPELINK_CONFIG', '/etc/scopelink/config.json');
    const { engine } = await startApp();
    expect(agent.loadConfigFile).toHaveBeenCalledWith('/etc/scopelink/config.json');
    expect(engine?.start).toHaveBeenCalledOnce();
  });

  it('reads config.json from the user data folder by default', async () => {
    vi.stubEnv('SCOPELINK_CONFIG', undefined);
    await startApp();
    expect(agent.loadConfigFile).toHaveBeenCalledWith(join('/fake/userData', 'config.json'));
  });

  it('points the engine at the shipped profiles', async () => {
    const { engine } = await startApp();
    expect(engine?.config).toEqual({
      ...config,
      profilesDir: join('/fake/app', 'src-agent', 'profiles'),
    });
  });

  it('points the packaged engine at the profiles among its resources', async () => {
    electron.app.isPackaged = true;
    // Electron defines process.resourcesPath; Node does not.
    Object.defineProperty(process, 'resourcesPath', {
      value: '/opt/ScopeLink/resources',
      configurable: true,
    });
    onTestFinished(() => {
      delete (process as Partial<Record<'resourcesPath', string>>).resourcesPath;
    });
    const { engine } = await startApp();
    expect(engine?.config.profilesDir).toBe(join('/opt/ScopeLink/resources', 'profiles'));
  });

  it('has backfills parsed by the worker that the agent build writes into the app', async () => {
    const { engine } = await startApp();
    // Where scripts/build-agent.mjs puts it, relative to the app folder (app.asar once packaged).
    const built = relative(join(import.meta.dirname, '../..'), PARSE_WORKER);
    expect(engine?.options.parseWorker).toEqual(pathToFileURL(join('/fake/app', built)));
  });

  it('keeps a profiles folder the config names', async () => {
    agent.loadConfigFile.mockResolvedValue({ ...config, profilesDir: '/custom' });
    const { engine } = await startApp();
    expect(engine?.config.profilesDir).toBe('/custom');
  });

  it('shows why the config cannot be loaded, and quits', async () => {
    agent.loadConfigFile.mockRejectedValue(new Error('device.kind: invalid option'));
    await startApp();
    expect(electron.dialog.showErrorBox).toHaveBeenCalledWith(
      'ScopeLink cannot start',
      expect.stringContaining('device.kind: invalid option'),
    );
    expect(electron.app.quit).toHaveBeenCalled();
    expect(agent.FakeEngine.all).toHaveLength(0);
  });

  it('leaves the work to the running instance when it is not the first', async () => {
    electron.app.singleInstanceLock = false;
    await startApp();
    expect(electron.app.quit).toHaveBeenCalled();
    expect(agent.loadConfigFile).not.toHaveBeenCalled();
  });

  it('keeps running when its window closes', async () => {
    await startApp();
    expect(electron.app.listenerCount('window-all-closed')).toBe(1);
  });

  it('shows the connection state in the tray tooltip', async () => {
    const { engine, tray } = await startApp();
    expect(tray?.toolTip).toBe('ScopeLink: connecting…');
    engine?.emit(snapshot('connected'));
    expect(tray?.toolTip).toBe('ScopeLink: connected');
  });

  it('opens one window from the tray menu and pushes status changes to it', async () => {
    const { engine, tray } = await startApp();
    expect(tray?.contextMenu?.items.map((item) => item.label)).toEqual([
      'Open ScopeLink',
      undefined,
      'Quit',
    ]);
    menuItem(tray, 'Open ScopeLink').click?.();
    menuItem(tray, 'Open ScopeLink').click?.();
    expect(FakeBrowserWindow.all).toHaveLength(1);
    const [window] = FakeBrowserWindow.all;
    expect(window?.focused).toBe(true);

    const status = snapshot('offline');
    engine?.emit(status);
    expect(window?.webContents.sent).toEqual([['status:changed', status]]);
  });

  it('answers status:get from the engine for its window only', async () => {
    const { tray } = await startApp();
    menuItem(tray, 'Open ScopeLink').click?.();
    const [window] = FakeBrowserWindow.all;
    if (!window?.loadedUrl) throw new Error('the window loaded no page');
    const event = {
      sender: window.webContents,
      senderFrame: { url: window.loadedUrl, parent: null },
    };
    await expect(electron.ipcMain.invoke('status:get', event)).resolves.toEqual(
      snapshot('connecting'),
    );

    window.close();
    await expect(electron.ipcMain.invoke('status:get', event)).rejects.toThrow(/^forbidden:/);
  });

  it('opens its window when started a second time', async () => {
    await startApp();
    electron.app.emit('second-instance');
    expect(FakeBrowserWindow.all).toHaveLength(1);
  });

  it('stops the engine before it exits', async () => {
    const { engine, tray } = await startApp();
    let finishStop = () => {};
    engine?.stop.mockReturnValue(
      new Promise<void>((resolve) => {
        finishStop = resolve;
      }),
    );

    const event = fakeEvent();
    electron.app.emit('before-quit', event);
    expect(event.defaultPrevented).toBe(true);
    expect(engine?.stop).toHaveBeenCalledOnce();
    await settle();
    expect(electron.app.exit).not.toHaveBeenCalled();

    // A second request to quit while stopping neither stops twice nor exits early.
    menuItem(tray, 'Quit').click?.();
    expect(engine?.stop).toHaveBeenCalledOnce();

    finishStop();
    await settle();
    expect(electron.app.exit).toHaveBeenCalledExactlyOnceWith(0);
  });

  it('still exits, with a failure code, when the engine cannot stop cleanly', async () => {
    const { engine } = await startApp();
    engine?.stop.mockRejectedValue(new Error('database is locked'));
    vi.spyOn(console, 'error').mockImplementation(() => {});
    electron.app.emit('before-quit', fakeEvent());
    await settle();
    expect(electron.app.exit).toHaveBeenCalledExactlyOnceWith(1);
  });

  it('shows why the engine cannot start, and quits through the clean stop', async () => {
    agent.FakeEngine.startError = new Error('cannot open the outbox');
    const { engine } = await startApp();
    expect(electron.dialog.showErrorBox).toHaveBeenCalledWith(
      'ScopeLink cannot start',
      'cannot open the outbox',
    );
    expect(engine?.stop).toHaveBeenCalledOnce();
    await settle();
    expect(electron.app.exit).toHaveBeenCalledWith(0);
  });
});
