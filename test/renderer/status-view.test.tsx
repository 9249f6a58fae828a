import { act } from 'react';
import { createRoot } from 'react-dom/client';
import type { Root } from 'react-dom/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { App } from '../../src-renderer/App.tsx';
import { connectStatus, useStatusStore } from '../../src-renderer/store.ts';
import type { ScopeLinkApi, StatusSnapshot } from '../../src-main/ipc-contract.ts';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

function snapshot(changes: {
  state?: StatusSnapshot['connection']['state'];
  outbox?: Partial<StatusSnapshot['outbox']>;
  updatedAt?: string;
}): StatusSnapshot {
  return {
    agent: { version: '0.1.0', pid: 4242, startedAt: '2025-03-01T08:00:00.000Z' },
    device: { id: 'EM-4711', kind: 'em', model: 'GeminiSEM 560' },
    server: { url: 'wss://scopelink.example/agent/v1', insecure: false },
    connection: {
      state: changes.state ?? 'connected',
      since: '2025-03-01T08:00:01.000Z',
      lastError: null,
      session: 's-1',
      via: 'direct',
    },
    outbox: {
      stream: 'st-1',
      pending: 3,
      oldestTs: null,
      sent: 166,
      acked: 163,
      dropped: 0,
      lastAckAt: null,
      ...changes.outbox,
    },
    sources: [
      {
        id: 'em-server',
        folder: 'C:\\ProgramData\\Carl Zeiss\\SmartSEM\\Log',
        files: 2,
        lastEventAt: '2025-03-01T08:05:00.000Z',
        errors: 0,
        lastError: null,
      },
      {
        id: 'smartsem-logs',
        folder: 'C:\\ProgramData\\Carl Zeiss\\SmartSEM\\Log\\Session',
        files: 0,
        lastEventAt: null,
        errors: 1,
        lastError: {
          code: 'not_found',
          message: 'folder not found',
          at: '2025-03-01T08:04:00.000Z',
        },
      },
    ],
    storage: { ok: true, lastError: null },
    keyStore: { name: 'keytar', available: true, detail: 'OS credential store' },
    updatedAt: changes.updatedAt ?? '2025-03-01T08:05:00.000Z',
  };
}

/** A stand-in for the preload's window.scopelink. */
function fakeApi(first: Promise<StatusSnapshot>) {
  const listeners = new Set<(status: StatusSnapshot) => void>();
  const api: ScopeLinkApi = {
    getStatus: () => first,
    onStatus: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const push = (status: StatusSnapshot) => {
    for (const listener of listeners) listener(status);
  };
  return { api, push, listeners };
}

let container: HTMLDivElement;
let root: Root;
let disconnect: () => void = () => {};

async function show(api: ScopeLinkApi): Promise<void> {
  await act(async () => {
    disconnect = connectStatus(api);
    root.render(<App />);
  });
}

const text = (testId: string) =>
  container.querySelector(`[data-testid="${testId}"]`)?.textContent ?? null;

beforeEach(() => {
  useStatusStore.setState({ status: null, error: null });
  container = document.createElement('div');
  document.body.append(container);
  root = createRoot(container);
});

afterEach(() => {
  act(() => root.unmount());
  disconnect();
  container.remove();
});

describe('the status view', () => {
  it('shows the connection state, the counts and one row per source', async () => {
    await show(fakeApi(Promise.resolve(snapshot({}))).api);
    expect(text('connection-state')).toBe('Connected');
    expect([text('pending'), text('sent'), text('acked')]).toEqual(['3', '166', '163']);
    const rows = [...container.querySelectorAll('tbody tr')].map((row) =>
      [...row.children].map((cell) => cell.textContent),
    );
    expect(rows).toHaveLength(2);
    expect(rows[0]?.slice(0, 3)).toEqual([
      'em-server',
      'C:\\ProgramData\\Carl Zeiss\\SmartSEM\\Log',
      '2',
    ]);
    expect(rows[1]?.[3]).toBe('—');
    expect(rows[1]?.[4]).toBe('1');
    // The error count tells the latest problem and when it was met.
    const errors = container.querySelectorAll('tbody tr')[1]?.children[4];
    expect(errors?.getAttribute('title')).toBe(
      `folder not found (${new Date('2025-03-01T08:04:00.000Z').toLocaleString()})`,
    );
    expect(container.querySelectorAll('tbody tr')[0]?.children[4]?.hasAttribute('title')).toBe(
      false,
    );
  });

  it('follows the pushed status', async () => {
    const { api, push } = fakeApi(Promise.resolve(snapshot({})));
    await show(api);
    act(() =>
      push(
        snapshot({
          state: 'offline',
          outbox: { pending: 10, sent: 170, acked: 170 },
          updatedAt: '2025-03-01T08:06:00.000Z',
        }),
      ),
    );
    expect(text('connection-state')).toBe('Offline');
    expect([text('pending'), text('sent'), text('acked')]).toEqual(['10', '170', '170']);
  });

  it('keeps a pushed status that is newer than the late first answer', async () => {
    let answer: (status: StatusSnapshot) => void = () => {};
    const { api, push } = fakeApi(new Promise((resolve) => (answer = resolve)));
    await show(api);
    expect(container.textContent).toContain('Reading status…');

    act(() => push(snapshot({ state: 'connected', updatedAt: '2025-03-01T08:06:00.000Z' })));
    await act(async () => answer(snapshot({ state: 'connecting' })));
    expect(text('connection-state')).toBe('Connected');
  });

  it('says why there is no status', async () => {
    await show(fakeApi(Promise.reject(new Error('forbidden: not the ScopeLink window'))).api);
    expect(container.querySelector('[role="alert"]')?.textContent).toBe(
      'No status: forbidden: not the ScopeLink window',
    );
  });

  it('stops listening when disconnected', async () => {
    const { api, listeners } = fakeApi(Promise.resolve(snapshot({})));
    await show(api);
    expect(listeners.size).toBe(1);
    disconnect();
    expect(listeners.size).toBe(0);
  });
});
