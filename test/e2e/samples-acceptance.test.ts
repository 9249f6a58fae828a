// Acceptance for log collection: the headless agents of all three device kinds read a
// copy of the shared sample logs and deliver exactly the expected items, and nothing
// of ../shared/samples/forbidden.txt is in any frame they sent.
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_BIN,
  SAMPLES,
  addDevice,
  agentStatus,
  removeDir,
  serverItems,
  startProcess,
  startServer,
  stop,
  tempDir,
  waitFor,
  writeAgentConfig,
  type Running,
  type StoredItem,
  type TestServer,
} from '../helpers/processes.ts';

interface Expected {
  source: string;
  name: string;
  value: unknown;
  unit?: string;
  kind: string;
  ts: string;
  attrs?: Record<string, unknown>;
}

const kinds = {
  em: {
    id: 'EM-0001',
    sources: { 'em-server': 'em/SmartSEM/Log', 'smartsem-logs': 'em/SmartSEM/Log' },
  },
  lm: {
    id: 'LM-0001',
    sources: { zen: 'lm/Logging', 'zen-core': 'lm/Logging', 'remote-service': 'lm/Remote Service' },
  },
  xrm: {
    id: 'XRM-0001',
    sources: {
      'xradia-app': 'xrm/Xradia Versa/<version>/Log Files',
      'xray-source': 'xrm/Xradia Versa/<version>/logs',
    },
  },
} as const;

// An item's identity for the comparison: timestamps as instants, numbers as numbers.
const keyOf = (i: {
  source: string;
  name: string;
  value: unknown;
  unit?: string | null;
  kind: string;
  ts: string;
}) => JSON.stringify([i.source, i.name, i.value, i.unit ?? null, i.kind, Date.parse(i.ts)]);

let dir: string;
let server: TestServer;
const agents: Running[] = [];
let stored: StoredItem[] = [];

beforeAll(async () => {
  dir = await tempDir('accept');
  const logs = path.join(dir, 'logs');
  await cp(path.join(SAMPLES, 'logs'), logs, { recursive: true });
  server = await startServer(path.join(dir, 'server'));
  const expectedCount = (await readFile(path.join(SAMPLES, 'expected.jsonl'), 'utf8'))
    .trim()
    .split('\n').length;
  for (const [kind, device] of Object.entries(kinds)) {
    const token = await addDevice(server.dataDir, device.id);
    const config = await writeAgentConfig(dir, {
      serverUrl: server.url,
      caFile: server.caFile,
      dataDir: `agent-${kind}`,
      device: { id: device.id, kind },
      sources: Object.fromEntries(
        Object.entries(device.sources).map(([id, folder]) => [
          id,
          { folder: path.join(logs, folder) },
        ]),
      ),
      collect: { pollIntervalSec: 0.5, backfill: { maxAgeDays: 0, maxBytes: 0 } },
    });
    // Each agent gets its own config file name.
    const own = path.join(dir, `agent-${kind}.json`);
    await cp(config, own);
    agents.push(
      startProcess(AGENT_BIN, ['run', '--config', own], {
        SCOPELINK_DEVICE_TOKEN: token,
        TZ: 'Etc/GMT-1',
      }),
    );
  }
  // Wait until the server holds at least the expected count and every outbox is empty.
  stored = await waitFor(
    async () => {
      const items = await serverItems(server.dataDir);
      if (items.length < expectedCount) return undefined;
      for (const kind of Object.keys(kinds)) {
        const s = await agentStatus(path.join(dir, `agent-${kind}.json`));
        if (s.connection.state !== 'connected' || s.outbox.pending !== 0) return undefined;
      }
      return items;
    },
    60_000,
    'all sample items at the server',
  );
}, 90_000);

afterAll(async () => {
  for (const agent of agents) await stop(agent);
  if (server) await stop(server);
  if (dir) await removeDir(dir);
});

describe('the default profiles on the sample logs', () => {
  it('deliver every expected item exactly once, unchanged', async () => {
    const expected = (await readFile(path.join(SAMPLES, 'expected.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Expected);
    const counts = new Map<string, StoredItem[]>();
    for (const item of stored) counts.set(keyOf(item), [...(counts.get(keyOf(item)) ?? []), item]);
    const missing: Expected[] = [];
    const duplicated: Expected[] = [];
    const wantCount = new Map<string, number>();
    for (const e of expected) wantCount.set(keyOf(e), (wantCount.get(keyOf(e)) ?? 0) + 1);
    for (const e of expected) {
      const got = counts.get(keyOf(e)) ?? [];
      const want = wantCount.get(keyOf(e))!;
      if (got.length < want) missing.push(e);
      else if (got.length > want) duplicated.push(e);
      for (const [k, v] of Object.entries(e.attrs ?? {})) {
        expect(
          got.every((g) => g.attrs?.[k] === v),
          `${e.name} attrs.${k} = ${String(v)}`,
        ).toBe(true);
      }
    }
    expect(missing).toEqual([]);
    expect(duplicated).toEqual([]);
    // No stream/seq stored twice either.
    expect(new Set(stored.map((i) => `${i.device}/${i.stream}/${i.seq}`)).size).toBe(stored.length);
  });

  it('send none of the forbidden strings in any frame', async () => {
    const forbidden = (await readFile(path.join(SAMPLES, 'forbidden.txt'), 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const frames = await readFile(server.framesFile, 'utf8');
    expect(frames.length).toBeGreaterThan(1000);
    expect(forbidden.filter((f) => frames.includes(f))).toEqual([]);
  });

  it('counts no source errors on well-formed samples', async () => {
    for (const kind of Object.keys(kinds)) {
      const status = await agentStatus(path.join(dir, `agent-${kind}.json`));
      expect(status.sources.map((s: { id: string; errors: number }) => [s.id, s.errors])).toEqual(
        status.sources.map((s: { id: string }) => [s.id, 0]),
      );
    }
  });
});
