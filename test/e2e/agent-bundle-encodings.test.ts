// The agent as shipped is one bundle (scripts/build-agent.mjs), which leaves iconv-lite's
// double-byte code tables beside it rather than inside it. A lab PC with a Japanese or
// Chinese Windows writes its logs in such a code page: the bundle must still find the table.
import path from 'node:path';
import { mkdir, writeFile } from 'node:fs/promises';
import iconv from 'iconv-lite';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AGENT_BIN,
  addDevice,
  removeDir,
  serverItems,
  startProcess,
  startServer,
  stop,
  tempDir,
  waitFor,
  writeAgentConfig,
} from '../helpers/processes.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

describe('the built agent with a double-byte code page', () => {
  it.each([
    ['shift_jis', '真空ポンプの圧力が高すぎます'],
    ['gbk', '真空泵压力过高'],
  ])('decodes a %s EM Server.log', async (encoding, message) => {
    const dir = await tempDir('bundle-encoding');
    cleanups.push(() => removeDir(dir));
    const server = await startServer(path.join(dir, 'server'));
    cleanups.push(() => stop(server));
    const token = await addDevice(server.dataDir, 'EM-0815');
    const logDir = path.join(dir, 'Log');
    await mkdir(logDir);
    const line = `2026-11-30 08:00:00.000 | ERROR | Vacuum   | ${message}\r\n`;
    await writeFile(path.join(logDir, 'EM Server.log'), iconv.encode(line, encoding));
    const config = await writeAgentConfig(dir, {
      serverUrl: server.url,
      caFile: server.caFile,
      dataDir: 'agent-data',
      device: { id: 'EM-0815', kind: 'em' },
      sources: {
        'em-server': { folder: logDir, encoding },
        'smartsem-logs': { enabled: false },
      },
      collect: { pollIntervalSec: 0.2, backfill: { maxAgeDays: 0, maxBytes: 0 } },
    });
    const agent = startProcess(AGENT_BIN, ['run', '--config', config], {
      SCOPELINK_DEVICE_TOKEN: token,
    });
    cleanups.push(() => stop(agent));
    const errors = await waitFor(
      async () => {
        const items = (await serverItems(server.dataDir)).filter((i) => i.kind === 'error');
        return items.length > 0 ? items : undefined;
      },
      30_000,
      'the error item at the server',
    ).catch((err: Error) => {
      throw new Error(`${err.message}; the agent said:\n${agent.stderr().slice(-2000)}`);
    });
    expect(errors.map((i) => i.value)).toEqual([message]);
  });
});
