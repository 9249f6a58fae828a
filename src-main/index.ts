import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, dialog, Menu, nativeImage, session, Tray } from 'electron';
import type { BrowserWindow, NativeImage } from 'electron';
import { loadConfigFile } from '../src-agent/config/load.ts';
import { Engine } from '../src-agent/engine.ts';
import { createLogger } from '../src-agent/log.ts';
import type { ConnectionState, StatusSnapshot } from './ipc-contract.ts';
import { handle, send } from './ipc.ts';
import { createMainWindow, hardenSession } from './window.ts';
import { withSystemProxy } from './system-proxy.ts';
import type { AppPage } from './window.ts';

const TRAY_STATES: Record<ConnectionState, string> = {
  connecting: 'connecting…',
  connected: 'connected',
  offline: 'offline',
  unauthorised: 'not authorised by the server',
  error: 'error',
  stopped: 'stopped',
};

// The app folder (app.asar once packaged) holds the build: electron-vite writes main, preload
// and renderer side by side under out/.
const outDir = join(app.getAppPath(), 'out');
const page: AppPage = {
  url: pathToFileURL(join(outDir, 'renderer', 'index.html')).href,
  preload: join(outDir, 'preload', 'index.cjs'),
};
// Backfills are parsed in worker threads, off the thread that answers the tray and the window.
// The worker is built with the headless agent (npm run build), as CommonJS, which Electron's
// worker threads load from inside app.asar. Should it fail to start, the engine parses on
// this thread and logs why.
const parseWorker = pathToFileURL(join(outDir, 'agent', 'parse-worker.cjs'));
// The engine finds its profiles beside its own module, which bundling moves: point it at the
// copy electron-builder ships as an extra resource, or at the sources when run unpackaged.
const shippedProfiles = app.isPackaged
  ? join(process.resourcesPath, 'profiles')
  : join(app.getAppPath(), 'src-agent', 'profiles');

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// A plain dot until the tray artwork exists; an empty image would leave no icon to click.
function trayIcon(): NativeImage {
  const size = 16;
  const pixels = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (Math.hypot(x - 7.5, y - 7.5) > 7) continue;
      pixels.set([0xa0, 0x7a, 0x1f, 0xff], (y * size + x) * 4); // BGRA
    }
  }
  return nativeImage.createFromBitmap(pixels, { width: size, height: size });
}

async function main(): Promise<void> {
  // The agent keeps running in the tray after its window closes.
  app.on('window-all-closed', () => {});
  await app.whenReady();

  const configPath = process.env.SCOPELINK_CONFIG ?? join(app.getPath('userData'), 'config.json');
  let engine: Engine;
  try {
    const config = await withSystemProxy(await loadConfigFile(configPath), session.defaultSession);
    engine = new Engine(
      { ...config, profilesDir: config.profilesDir ?? shippedProfiles },
      // The engine's log lines go to stderr, as the headless agent's do.
      { log: createLogger({ level: process.env.SCOPELINK_LOG_LEVEL ?? 'info' }), parseWorker },
    );
  } catch (error) {
    dialog.showErrorBox('ScopeLink cannot start', `${configPath}\n\n${messageOf(error)}`);
    app.quit();
    return;
  }

  let stopping = false;
  app.on('before-quit', (event) => {
    // Quit only once the engine has stopped and closed its database.
    event.preventDefault();
    if (stopping) return;
    stopping = true;
    engine.stop().then(
      () => app.exit(0),
      (error: unknown) => {
        console.error('ScopeLink: the engine did not stop cleanly', error);
        app.exit(1);
      },
    );
  });

  hardenSession(page);
  let window: BrowserWindow | null = null;
  const openWindow = () => {
    if (window) {
      window.show();
      window.focus();
      return;
    }
    window = createMainWindow(page);
    window.on('closed', () => {
      window = null;
    });
  };
  handle('status:get', { window: () => window, pageUrl: page.url }, () => engine.status());
  app.on('second-instance', openWindow);

  const tray = new Tray(trayIcon());
  tray.setContextMenu(
    Menu.buildFromTemplate([
      { label: 'Open ScopeLink', click: openWindow },
      { type: 'separator' },
      { label: 'Quit', click: () => app.quit() },
    ]),
  );
  tray.on('click', openWindow);
  const showStatus = (status: StatusSnapshot) => {
    tray.setToolTip(`ScopeLink: ${TRAY_STATES[status.connection.state]}`);
    if (window) send(window.webContents, 'status:changed', status);
  };
  showStatus(engine.status());
  engine.onStatus(showStatus);

  try {
    await engine.start();
  } catch (error) {
    dialog.showErrorBox('ScopeLink cannot start', messageOf(error));
    app.quit();
  }
}

if (app.requestSingleInstanceLock()) {
  void main();
} else {
  // Another ScopeLink is running; its second-instance handler shows its window.
  app.quit();
}
