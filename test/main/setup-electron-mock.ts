// One fake of the `electron` module for every main-process test: just enough behaviour to
// drive the shell (events, handlers, windows) and to see what it asked Electron to do.
import { EventEmitter } from 'node:events';
import { beforeEach, vi } from 'vitest';

export interface FakeEvent {
  defaultPrevented: boolean;
  preventDefault(): void;
}

export function fakeEvent<T extends object>(fields: T = {} as T): T & FakeEvent {
  return {
    ...fields,
    defaultPrevented: false,
    preventDefault() {
      this.defaultPrevented = true;
    },
  };
}

type WindowOpenHandler = (details: { url: string }) => { action: 'allow' | 'deny' };

export class FakeWebContents extends EventEmitter {
  windowOpenHandler: WindowOpenHandler | null = null;
  readonly sent: Array<[channel: string, payload: unknown]> = [];
  destroyed = false;

  setWindowOpenHandler(handler: WindowOpenHandler): void {
    this.windowOpenHandler = handler;
  }

  send(channel: string, payload: unknown): void {
    this.sent.push([channel, payload]);
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }
}

export class FakeBrowserWindow extends EventEmitter {
  static all: FakeBrowserWindow[] = [];

  static fromWebContents(contents: unknown): FakeBrowserWindow | null {
    return FakeBrowserWindow.all.find((window) => window.webContents === contents) ?? null;
  }

  readonly webContents = new FakeWebContents();
  loadedUrl: string | null = null;
  visible = false;
  focused = false;

  constructor(readonly options: Record<string, unknown>) {
    super();
    FakeBrowserWindow.all.push(this);
  }

  loadURL(url: string): Promise<void> {
    this.loadedUrl = url;
    return Promise.resolve();
  }

  show(): void {
    this.visible = true;
  }

  focus(): void {
    this.focused = true;
  }

  /** What Electron does when the user closes the window. */
  close(): void {
    this.webContents.destroyed = true;
    FakeBrowserWindow.all = FakeBrowserWindow.all.filter((window) => window !== this);
    this.emit('closed');
  }
}

type Handler = (event: unknown, ...args: unknown[]) => unknown;

class FakeIpcMain {
  readonly handlers = new Map<string, Handler>();

  handle(channel: string, handler: Handler): void {
    if (this.handlers.has(channel)) {
      throw new Error(`Attempted to register a second handler for '${channel}'`);
    }
    this.handlers.set(channel, handler);
  }

  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }

  /** Calls the channel's handler as Electron does for an `ipcRenderer.invoke`. */
  async invoke(channel: string, event: unknown, ...args: unknown[]): Promise<unknown> {
    const handler = this.handlers.get(channel);
    if (!handler) throw new Error(`No handler registered for '${channel}'`);
    return handler(event, ...args);
  }
}

class FakeApp extends EventEmitter {
  isPackaged = false;
  singleInstanceLock = true;
  readonly quit = vi.fn(() => {
    this.emit('before-quit', fakeEvent());
  });
  readonly exit = vi.fn<(code?: number) => void>();

  requestSingleInstanceLock(): boolean {
    return this.singleInstanceLock;
  }

  whenReady(): Promise<void> {
    return Promise.resolve();
  }

  getAppPath(): string {
    return '/fake/app';
  }

  getPath(name: string): string {
    return `/fake/${name}`;
  }
}

export class FakeTray extends EventEmitter {
  static all: FakeTray[] = [];
  toolTip = '';
  contextMenu: FakeMenu | null = null;

  constructor(readonly image: unknown) {
    super();
    FakeTray.all.push(this);
  }

  setToolTip(text: string): void {
    this.toolTip = text;
  }

  setContextMenu(menu: FakeMenu): void {
    this.contextMenu = menu;
  }
}

export interface FakeMenuItem {
  label?: string;
  type?: string;
  click?: () => void;
}

export interface FakeMenu {
  items: FakeMenuItem[];
}

type HeadersListener = (
  details: { url: string; responseHeaders?: Record<string, string[]> },
  callback: (response: { responseHeaders?: Record<string, string[]> }) => void,
) => void;

type PermissionRequestHandler = (
  contents: unknown,
  permission: string,
  callback: (granted: boolean) => void,
) => void;

class FakeSession {
  headersListener: HeadersListener | null = null;
  permissionRequestHandler: PermissionRequestHandler | null = null;
  permissionCheckHandler: ((...args: unknown[]) => boolean) | null = null;
  readonly webRequest = {
    onHeadersReceived: (listener: HeadersListener) => {
      this.headersListener = listener;
    },
  };

  setPermissionRequestHandler(handler: PermissionRequestHandler): void {
    this.permissionRequestHandler = handler;
  }

  setPermissionCheckHandler(handler: (...args: unknown[]) => boolean): void {
    this.permissionCheckHandler = handler;
  }
}

class FakeIpcRenderer extends EventEmitter {
  readonly invoke = vi.fn<(channel: string, ...args: unknown[]) => Promise<unknown>>();
}

function createFake() {
  return {
    app: new FakeApp(),
    BrowserWindow: FakeBrowserWindow,
    Tray: FakeTray,
    Menu: { buildFromTemplate: (items: FakeMenuItem[]): FakeMenu => ({ items }) },
    nativeImage: {
      createFromBitmap: (buffer: Buffer, size: { width: number; height: number }) => ({
        buffer,
        size,
      }),
    },
    dialog: { showErrorBox: vi.fn<(title: string, content: string) => void>() },
    session: { defaultSession: new FakeSession() },
    ipcMain: new FakeIpcMain(),
    ipcRenderer: new FakeIpcRenderer(),
    contextBridge: { exposeInMainWorld: vi.fn<(key: string, api: unknown) => void>() },
  };
}

/** The current fake; its parts are replaced before each test. */
export const electron = createFake();

beforeEach(() => {
  Object.assign(electron, createFake());
  FakeBrowserWindow.all = [];
  FakeTray.all = [];
});

// Modules bind their imports when first loaded, so the mock hands out getters that always
// reach the current fake.
vi.mock('electron', () => {
  const module: Record<string, unknown> = {};
  for (const key of Object.keys(electron)) {
    Object.defineProperty(module, key, {
      enumerable: true,
      get: () => electron[key as keyof typeof electron],
    });
  }
  module.default = module;
  return module;
});
