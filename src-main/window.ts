import { BrowserWindow, session } from 'electron';
import type { Event } from 'electron';
import { pageOf } from './ipc.ts';

// The same policy is in src-renderer/index.html; a test keeps the two equal. The meta tag
// covers the renderer wherever it is loaded from, the header whatever the page declares.
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'none'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'";

export interface AppPage {
  /** URL of the renderer's index.html: the only page the window may show. */
  url: string;
  /** Path of the preload script. */
  preload: string;
}

/** Adds the CSP header to the renderer's files and refuses every permission request. */
export function hardenSession(page: AppPage): void {
  const rendererDir = new URL('.', page.url).href;
  const { webRequest } = session.defaultSession;
  webRequest.onHeadersReceived((details, callback) => {
    if (!details.url.startsWith(rendererDir)) {
      callback({});
      return;
    }
    callback({
      responseHeaders: {
        ...details.responseHeaders,
        'Content-Security-Policy': [CONTENT_SECURITY_POLICY],
      },
    });
  });
  // A status view needs no camera, notifications or the like.
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) =>
    callback(false),
  );
  session.defaultSession.setPermissionCheckHandler(() => false);
}

export function createMainWindow(page: AppPage): BrowserWindow {
  const window = new BrowserWindow({
    width: 720,
    height: 560,
    show: false,
    title: 'ScopeLink',
    autoHideMenuBar: true,
    webPreferences: {
      preload: page.preload,
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
    },
  });
  const home = pageOf(page.url);
  const stayHome = (event: Event<{ url: string }>) => {
    if (pageOf(event.url) !== home) event.preventDefault();
  };
  window.webContents.on('will-frame-navigate', stayHome);
  window.webContents.on('will-redirect', stayHome);
  window.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  window.once('ready-to-show', () => window.show());
  window.loadURL(page.url).catch((error: unknown) => {
    console.error('ScopeLink: the window could not load its page', error);
  });
  return window;
}
