import { BrowserWindow, ipcMain } from 'electron';
import type { IpcMainInvokeEvent, WebContents } from 'electron';
import * as z from 'zod';
import { invokeArgSchemas } from './ipc-contract.ts';
import type {
  InvokeArgs,
  InvokeChannel,
  InvokeResult,
  PushChannel,
  PushChannels,
} from './ipc-contract.ts';

export type IpcErrorCode = 'forbidden' | 'bad_request';

// Electron passes only the message of a rejected invoke to the renderer, so the stable code
// leads the message.
export class IpcError extends Error {
  constructor(
    readonly code: IpcErrorCode,
    detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'IpcError';
  }
}

export interface SenderPolicy {
  /** The one window allowed to call, or null while it is closed. */
  window(): BrowserWindow | null;
  /** The URL of the app's renderer page. */
  pageUrl: string;
}

/** A URL without its query and fragment, or null if it is not a URL. */
export function pageOf(url: string): string | null {
  if (!URL.canParse(url)) return null;
  const parsed = new URL(url);
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
}

function checkSender(event: IpcMainInvokeEvent, policy: SenderPolicy): void {
  const window = policy.window();
  const frame = event.senderFrame;
  const fromOurWindow = window !== null && BrowserWindow.fromWebContents(event.sender) === window;
  // Only the app's own top-level page may call: not a subframe, not a page navigated elsewhere.
  const fromOurPage =
    frame !== null && frame.parent === null && pageOf(frame.url) === pageOf(policy.pageUrl);
  if (!fromOurWindow || !fromOurPage) {
    throw new IpcError('forbidden', 'the sender is not the ScopeLink window');
  }
}

/** Registers the handler of one channel; returns a function that removes it. */
export function handle<K extends InvokeChannel>(
  channel: K,
  policy: SenderPolicy,
  handler: (...args: InvokeArgs<K>) => InvokeResult<K> | Promise<InvokeResult<K>>,
): () => void {
  const schema = invokeArgSchemas[channel];
  ipcMain.handle(channel, (event, ...args: unknown[]) => {
    checkSender(event, policy);
    const parsed = schema.safeParse(args);
    if (!parsed.success) {
      throw new IpcError('bad_request', `${channel}: ${z.prettifyError(parsed.error)}`);
    }
    return handler(...parsed.data);
  });
  return () => ipcMain.removeHandler(channel);
}

export function send<K extends PushChannel>(
  target: WebContents,
  channel: K,
  payload: PushChannels[K],
): void {
  // The window may be closing: a push to it is then moot.
  if (!target.isDestroyed()) target.send(channel, payload);
}
