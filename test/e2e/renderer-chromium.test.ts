// The built renderer in a real browser: the production bundle must render under its own CSP.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import electronViteConfig from '../../electron.vite.config.ts';
import type { StatusSnapshot } from '../../src-main/ipc-contract.ts';

const CHROMIUM = '/usr/bin/chromium';

const snapshot: StatusSnapshot = {
  agent: { version: '0.1.0', pid: 4242, startedAt: '2025-03-01T08:00:00.000Z' },
  device: { id: 'EM-4711', kind: 'em' },
  server: { url: 'wss://scopelink.example/agent/v1', insecure: false },
  connection: {
    state: 'connected',
    since: '2025-03-01T08:00:01.000Z',
    lastError: null,
    session: 's-1',
    via: 'direct',
  },
  outbox: {
    stream: 'st-1',
    pending: 4,
    oldestTs: null,
    sent: 120,
    acked: 116,
    dropped: 0,
    lastAckAt: null,
  },
  sources: [
    {
      id: 'em-server',
      folder: '/data/SmartSEM/Log',
      files: 1,
      lastEventAt: null,
      errors: 0,
      lastError: null,
    },
  ],
  storage: { ok: true, lastError: null },
  keyStore: { name: 'keytar', available: true, detail: 'OS credential store' },
  updatedAt: '2025-03-01T08:05:00.000Z',
};

// Runs in the page before the app: the preload's verbs, and a record of CSP violations.
function installFakePreload(first: StatusSnapshot): void {
  const page = globalThis as unknown as {
    scopelink: unknown;
    pushStatus: (status: StatusSnapshot) => void;
    cspViolations: string[];
    addEventListener(type: string, listener: (event: { violatedDirective: string }) => void): void;
  };
  const listeners: Array<(status: StatusSnapshot) => void> = [];
  page.scopelink = Object.freeze({
    getStatus: () => Promise.resolve(first),
    onStatus: (listener: (status: StatusSnapshot) => void) => {
      listeners.push(listener);
      return () => listeners.splice(listeners.indexOf(listener), 1);
    },
  });
  page.pushStatus = (status) => listeners.forEach((listener) => listener(status));
  page.cspViolations = [];
  page.addEventListener('securitypolicyviolation', (event) => {
    page.cspViolations.push(event.violatedDirective);
  });
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

function serve(root: string): Promise<Server> {
  const server = createServer((request, response) => {
    const path = normalize(new URL(request.url ?? '/', 'http://localhost').pathname);
    const file = join(root, path === '/' ? 'index.html' : path);
    readFile(file).then(
      (body) => {
        response.writeHead(200, { 'Content-Type': CONTENT_TYPES[extname(file)] ?? 'text/plain' });
        response.end(body);
      },
      () => {
        response.writeHead(404);
        response.end();
      },
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe.skipIf(!existsSync(CHROMIUM))(
  `the built renderer in headless Chromium (skipped when ${CHROMIUM} is missing)`,
  () => {
    let outDir: string;
    let server: Server;
    let browser: Browser;
    let page: Page;
    let origin: string;

    beforeAll(async () => {
      outDir = await mkdtemp(join(tmpdir(), 'scopelink-renderer-'));
      const { renderer = {} } = electronViteConfig;
      // The renderer as electron-vite builds it for the app, into a folder of our own.
      await build({
        ...renderer,
        configFile: false,
        base: './',
        logLevel: 'warn',
        build: {
          ...renderer.build,
          outDir,
          emptyOutDir: true,
          modulePreload: { polyfill: false },
        },
      });
      server = await serve(outDir);
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
      page = await browser.newPage();
      await page.addInitScript(installFakePreload, snapshot);
      await page.goto(`${origin}/index.html`);
    });

    afterAll(async () => {
      await browser?.close();
      await new Promise((resolve) => server?.close(resolve));
      if (outDir) await rm(outDir, { recursive: true, force: true });
    });

    it('carries the CSP in a meta tag', async () => {
      const csp = await page
        .locator('meta[http-equiv="Content-Security-Policy"]')
        .getAttribute('content');
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("connect-src 'none'");
    });

    it('renders the status without breaking its CSP', async () => {
      await expect.poll(() => page.getByTestId('connection-state').textContent()).toBe('Connected');
      expect(await page.getByTestId('pending').textContent()).toBe('4');
      expect(await page.getByTestId('sent').textContent()).toBe('120');
      expect(await page.getByTestId('acked').textContent()).toBe('116');
      expect(await page.locator('tbody tr th').allTextContents()).toEqual(['em-server']);
      expect(
        await page.evaluate(() => (globalThis as { cspViolations?: string[] }).cspViolations),
      ).toEqual([]);
    });

    it('follows pushed status', async () => {
      await page.evaluate(
        (status) =>
          (globalThis as unknown as { pushStatus(s: StatusSnapshot): void }).pushStatus(status),
        {
          ...snapshot,
          connection: { ...snapshot.connection, state: 'offline' as const },
          outbox: { ...snapshot.outbox, pending: 9 },
          updatedAt: '2025-03-01T08:06:00.000Z',
        },
      );
      await expect.poll(() => page.getByTestId('connection-state').textContent()).toBe('Offline');
      expect(await page.getByTestId('pending').textContent()).toBe('9');
    });

    it('lets the page reach no network, not even its own origin', async () => {
      const outcome = await page.evaluate(
        (url) =>
          fetch(url).then(
            () => 'fetched',
            () => 'blocked',
          ),
        `${origin}/index.html`,
      );
      expect(outcome).toBe('blocked');
    });
  },
);
