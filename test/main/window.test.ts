import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, createMainWindow, hardenSession } from '../../src-main/window.ts';
import { electron, fakeEvent, FakeBrowserWindow } from './setup-electron-mock.ts';

const page = {
  url: 'file:///opt/ScopeLink/resources/app.asar/out/renderer/index.html',
  preload: '/opt/ScopeLink/resources/app.asar/out/preload/index.cjs',
};

function open(): FakeBrowserWindow {
  createMainWindow(page);
  const [window] = FakeBrowserWindow.all;
  if (!window) throw new Error('no window was created');
  return window;
}

describe('the main window', () => {
  it('runs its page sandboxed and isolated, without Node, with the preload', () => {
    const window = open();
    expect(window.options.webPreferences).toMatchObject({
      preload: page.preload,
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      webSecurity: true,
    });
    expect(window.loadedUrl).toBe(page.url);
  });

  it('stays hidden until its page is ready', () => {
    const window = open();
    expect(window.visible).toBe(false);
    window.emit('ready-to-show');
    expect(window.visible).toBe(true);
  });

  it('denies window.open', () => {
    const window = open();
    expect(window.webContents.windowOpenHandler?.({ url: 'https://example.com/' })).toEqual({
      action: 'deny',
    });
  });

  it.each(['will-frame-navigate', 'will-redirect'])('denies %s away from the app', (name) => {
    const window = open();
    for (const url of ['https://example.com/', 'file:///etc/passwd', 'javascript:alert(1)']) {
      const event = fakeEvent({ url });
      window.webContents.emit(name, event);
      expect(event.defaultPrevented, url).toBe(true);
    }
    const home = fakeEvent({ url: `${page.url}#/sources` });
    window.webContents.emit(name, home);
    expect(home.defaultPrevented).toBe(false);
  });
});

describe('the session', () => {
  it('sends the CSP header with the renderer files only', () => {
    hardenSession(page);
    const listener = electron.session.defaultSession.headersListener;
    const respond = (url: string) => {
      let response: { responseHeaders?: Record<string, string[]> } | undefined;
      listener?.({ url, responseHeaders: { 'Content-Type': ['text/html'] } }, (r) => {
        response = r;
      });
      return response;
    };
    expect(respond(page.url)).toEqual({
      responseHeaders: {
        'Content-Type': ['text/html'],
        'Content-Security-Policy': [CONTENT_SECURITY_POLICY],
      },
    });
    expect(respond(page.url.replace('index.html', 'assets/index-abc.js'))).toMatchObject({
      responseHeaders: { 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] },
    });
    expect(respond('https://example.com/')).toEqual({});
  });

  it('grants no permission', () => {
    hardenSession(page);
    const { permissionRequestHandler, permissionCheckHandler } = electron.session.defaultSession;
    let granted: boolean | undefined;
    permissionRequestHandler?.(null, 'media', (answer) => {
      granted = answer;
    });
    expect(granted).toBe(false);
    expect(permissionCheckHandler?.(null, 'notifications')).toBe(false);
  });

  it('uses the same CSP as the meta tag in index.html', () => {
    const html = readFileSync(new URL('../../src-renderer/index.html', import.meta.url), 'utf8');
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html);
    expect(meta?.[1]).toBe(CONTENT_SECURITY_POLICY);
  });
});
