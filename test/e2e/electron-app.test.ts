// The built app in a real Electron, where this machine has one.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { build } from 'electron-vite';
import { _electron } from 'playwright-core';
import type { ElectronApplication, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../../src-agent/status.ts';

const root = join(import.meta.dirname, '../..');

// Not require('electron') itself: without a binary, that starts a download.
function electronBinary(): string | null {
  const packageDir = dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  const pathFile = join(packageDir, 'path.txt');
  if (!existsSync(pathFile)) return null;
  const relative = readFileSync(pathFile, 'utf8');
  const distDir = process.env.ELECTRON_OVERRIDE_DIST_PATH ?? join(packageDir, 'dist');
  const binary = join(distDir, relative);
  return existsSync(binary) ? binary : null;
}

function skipReason(binary: string | null): string | null {
  if (binary === null) {
    return 'no Electron binary on this machine (installed with ELECTRON_SKIP_BINARY_DOWNLOAD=1)';
  }
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    return 'no display for Electron (run under xvfb-run)';
  }
  return null;
}

const BACKFILL_LINE =
  '2025-05-11 08:02:44.263 | INFO  | System   | Operating Hours = 17035.3 Hours\r\n';
const BACKFILL_LINES = Math.ceil((5 * 1024 * 1024) / BACKFILL_LINE.length);

const binary = electronBinary();
const reason = skipReason(binary);

describe.skipIf(reason !== null)(`the Electron app${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let workDir: string;
  let electronApp: ElectronApplication;
  let page: Page;
  let appLog = '';

  beforeAll(async () => {
    await build({ root, logLevel: 'warn' });
    workDir = await mkdtemp(join(tmpdir(), 'scopelink-electron-'));
    // A backfill large enough for the engine's parse workers (WORKER_AFTER_BYTES).
    const logs = join(workDir, 'logs');
    await mkdir(logs);
    await writeFile(join(logs, 'EM Server.log'), BACKFILL_LINE.repeat(BACKFILL_LINES));
    const config = join(workDir, 'config.json');
    await writeFile(
      config,
      JSON.stringify({
        // Nothing listens there: the app runs without a server.
        serverUrl: 'wss://127.0.0.1:9/agent/v1',
        dataDir: join(workDir, 'data'),
        device: { id: 'E2E-1', kind: 'em' },
        sources: {
          'em-server': { folder: logs },
          'smartsem-logs': { enabled: false },
        },
      }),
    );
    electronApp = await _electron.launch({
      executablePath: binary ?? undefined,
      // Chromium refuses to run as root with its OS sandbox on.
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), root],
      env: { ...process.env, SCOPELINK_CONFIG: config } as Record<string, string>,
    });
    // The app starts in the tray; a second start is how a user brings up its window.
    await electronApp.evaluate(({ app }) => {
      app.emit('second-instance');
    });
    electronApp.process().stderr?.on('data', (chunk: Buffer) => {
      appLog += chunk.toString();
    });
    page = await electronApp.firstWindow();
  });

  afterAll(async () => {
    await electronApp?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('gives its page the preload verbs and nothing of Node', async () => {
    const reach = await page.evaluate(() => ({
      require: typeof (globalThis as { require?: unknown }).require,
      process: typeof (globalThis as { process?: unknown }).process,
      api: Object.keys((globalThis as unknown as { scopelink: object }).scopelink).sort(),
    }));
    expect(reach).toEqual({
      require: 'undefined',
      process: 'undefined',
      api: ['getStatus', 'onStatus'],
    });
  });

  it('shows the engine status', async () => {
    await expect
      .poll(() => page.getByTestId('connection-state').textContent())
      .toMatch(/^(Connecting…|Offline|Error)$/);
  });

  it('parses a backfill in its worker threads, off the main process', async () => {
    const pending = () =>
      page.evaluate(() =>
        (globalThis as unknown as { scopelink: { getStatus(): Promise<StatusSnapshot> } }).scopelink
          .getStatus()
          .then((status) => status.outbox.pending),
      );
    await expect.poll(pending, { timeout: 60_000 }).toBe(BACKFILL_LINES);
    // The engine would have parsed on in the main process, and said so.
    expect(appLog).not.toContain('parse worker failed');
  });

  it('opens no other window', async () => {
    const opened = await page.evaluate(
      () =>
        (globalThis as unknown as { open(url: string): unknown }).open('https://example.com/') ===
        null,
    );
    expect(opened).toBe(true);
  });

  it('stops the engine and exits cleanly on quit', async () => {
    const exited = new Promise<number | null>((resolve) =>
      electronApp.process().once('exit', (code) => resolve(code)),
    );
    await electronApp.close();
    expect(await exited).toBe(0);
  });
});
