// The walking skeleton end to end: real server process, real agent process, an
// EM Server.log that grows while they run.
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AGENT_BIN,
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
} from '../helpers/processes.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const emLine = (time: string, message: string, level = 'INFO ') =>
  iconv.encode(`2026-11-30 ${time} | ${level}| System   | ${message}\r\n`, 'cp1252');

describe('agent and server, end to end', () => {
  it('delivers appended EM Server.log lines to the server exactly once', async () => {
    const dir = await tempDir('e2e');
    cleanups.push(() => removeDir(dir));
    const server = await startServer(path.join(dir, 'server'));
    cleanups.push(() => stop(server));
    const token = await addDevice(server.dataDir, 'EM-4711');

    const logs = path.join(dir, 'SmartSEM', 'Log');
    await mkdir(logs, { recursive: true });
    const log = path.join(logs, 'EM Server.log');
    await appendFile(
      log,
      emLine('08:00:00.000', 'Operating Hours = 100.5 Hours ; Supply 24V = 24.01 V'),
    );
    const config = await writeAgentConfig(dir, {
      serverUrl: server.url,
      caFile: server.caFile,
      dataDir: 'agent-data',
      device: { id: 'EM-4711', kind: 'em', model: 'GeminiSEM 560' },
      sources: { 'em-server': { folder: logs }, 'smartsem-logs': { enabled: false } },
      collect: { pollIntervalSec: 0.5 },
    });
    const agent: Running = startProcess(AGENT_BIN, ['run', '--config', config], {
      SCOPELINK_DEVICE_TOKEN: token,
    });
    cleanups.push(() => stop(agent));

    const connected = await waitFor(
      async () => ((await agentStatus(config)).connection.state === 'connected' ? true : undefined),
      30_000,
      'the agent to connect',
    );
    expect(connected).toBe(true);

    // Lines written while the agent runs, one with a user's image path that must not leave.
    await appendFile(
      log,
      Buffer.concat([
        emLine('08:00:01.000', 'Stage X Cycles = 9623 ; Stage Y Cycles = 34543'),
        emLine('08:00:02.000', 'Image saved to C:\\Users\\jdoe\\Documents\\sample_1.tif'),
        emLine('08:00:03.000', 'Failed to save C:\\Users\\jdoe\\x.tif: disk full', 'ERROR'),
        emLine('08:00:04.000', 'Operating Hours = 100.6 Hours'),
      ]),
    );

    const expected = [
      ['system.operating_hours', 100.5],
      ['supply.24v', 24.01],
      ['stage.x.cycles', 9623],
      ['stage.y.cycles', 34543],
      ['error', 'Failed to save <path>: disk full'],
      ['system.operating_hours', 100.6],
    ];
    const items = await waitFor(
      async () => {
        const stored = await serverItems(server.dataDir);
        return stored.length >= expected.length ? stored : undefined;
      },
      30_000,
      'the items at the server',
    );
    expect(items.map((i) => [i.name, i.value])).toEqual(expected);
    expect(new Set(items.map((i) => `${i.stream}/${i.seq}`)).size).toBe(items.length);
    expect(items.every((i) => i.device === 'EM-4711' && i.source === 'em-server')).toBe(true);
    expect(Date.parse(items[0]!.ts)).toBe(new Date(2026, 10, 30, 8, 0, 0).getTime());

    // Acknowledged items leave the outbox; nothing private was on the wire.
    const status = await waitFor(
      async () => {
        const s = await agentStatus(config);
        return s.outbox.pending === 0 && s.outbox.acked === expected.length ? s : undefined;
      },
      15_000,
      'the outbox to drain',
    );
    expect(status.outbox.sent).toBe(expected.length);
    const frames = await readFile(server.framesFile, 'utf8');
    expect(frames).not.toContain('jdoe');
    expect(frames).not.toContain('sample_1.tif');
    expect(frames).not.toContain(token);

    // A clean stop exits 0, and a restart sends nothing twice.
    expect(await stop(agent)).toBe(0);
    const again = startProcess(AGENT_BIN, ['run', '--config', config], {
      SCOPELINK_DEVICE_TOKEN: token,
    });
    cleanups.push(() => stop(again));
    await appendFile(log, emLine('08:00:05.000', 'Operating Hours = 100.7 Hours'));
    const after = await waitFor(
      async () => {
        const stored = await serverItems(server.dataDir);
        return stored.length > expected.length ? stored : undefined;
      },
      30_000,
      'the item written after the restart',
    );
    await new Promise((r) => setTimeout(r, 1500));
    const final = await serverItems(server.dataDir);
    expect(final).toHaveLength(expected.length + 1);
    expect(after.at(-1)).toMatchObject({ name: 'system.operating_hours', value: 100.7 });
    expect(await stop(again)).toBe(0);
    expect((await agentStatus(config)).connection.state).toBe('stopped');
  });

  it('refuses a bad config with exit code 2 and a message naming the key', async () => {
    const dir = await tempDir('badcfg');
    cleanups.push(() => removeDir(dir));
    const config = await writeAgentConfig(dir, {
      serverUrl: 'wss://127.0.0.1:9/agent/v1',
      dataDir: 'data',
      device: { id: 'EM-1', kind: 'sem' },
      colour: 'blue',
    });
    const agent = startProcess(AGENT_BIN, ['run', '--config', config]);
    expect(await agent.exited).toBe(2);
    expect(agent.stderr()).toMatch(/device\.kind: /);
    expect(agent.stderr()).toMatch(/colour: unknown key/);
    // "touches nothing": no data directory was created.
    await expect(readFile(path.join(dir, 'data', 'outbox.db'))).rejects.toThrow();
  });

  it('refuses ws:// unless started with the development switch', async () => {
    const dir = await tempDir('insecure');
    cleanups.push(() => removeDir(dir));
    const config = await writeAgentConfig(dir, {
      serverUrl: 'ws://127.0.0.1:9/agent/v1',
      dataDir: 'data',
      device: { id: 'EM-1', kind: 'em' },
    });
    const agent = startProcess(AGENT_BIN, ['run', '--config', config]);
    expect(await agent.exited).toBe(2);
    expect(agent.stderr()).toMatch(/serverUrl: ws:\/\//);
  });
});
