// The agent never listens: during a full run (collecting, sending, answering the server's
// requests) its process owns no listening TCP, no bound UDP and no listening UNIX socket.
import { appendFile, mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import { createServer } from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { ensureTls } from '../../src-server/certs.ts';
import {
  AGENT_BIN,
  removeDir,
  startProcess,
  stop,
  tempDir,
  waitFor,
  writeAgentConfig,
  type Running,
} from '../helpers/processes.ts';
import { operatingHoursLine } from '../helpers/em-lines.ts';

const onLinux = process.platform === 'linux';

let dir: string;
let agent: Running;
let server: ReturnType<typeof createServer>;
const responses: { id: string; ok: boolean }[] = [];
let itemsReceived = 0;

beforeAll(async () => {
  if (!onLinux) return;
  dir = await tempDir('listen');
  const tlsMaterial = await ensureTls(path.join(dir, 'tls'));
  server = createServer({ cert: tlsMaterial.certPem, key: tlsMaterial.keyPem });
  const wss = new WebSocketServer({ server, handleProtocols: () => 'scopelink.v1' });
  // A peer that welcomes, acknowledges and asks the agent things, as a server may.
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'hello') {
        ws.send(JSON.stringify({ type: 'welcome', protocol: 1, session: 's', ackedSeq: 0 }));
        for (const [id, op] of [
          ['r-1', 'status'],
          ['r-2', 'sysinfo'],
          ['r-3', 'shell'],
        ]) {
          ws.send(JSON.stringify({ type: 'request', id, op, args: {} }));
        }
      } else if (frame.type === 'items') {
        itemsReceived += frame.items.length;
        ws.send(JSON.stringify({ type: 'ack', upTo: frame.items.at(-1).seq }));
      } else if (frame.type === 'response') {
        responses.push({ id: frame.id, ok: frame.ok });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const logs = path.join(dir, 'logs');
  await mkdir(logs);
  const config = await writeAgentConfig(dir, {
    serverUrl: `wss://127.0.0.1:${port}/agent/v1`,
    caFile: tlsMaterial.caFile,
    dataDir: 'data',
    device: { id: 'EM-1', kind: 'em' },
    sources: { 'em-server': { folder: logs }, 'smartsem-logs': { folder: logs } },
    collect: { pollIntervalSec: 0.2 },
  });
  agent = startProcess(AGENT_BIN, ['run', '--config', config], { SCOPELINK_DEVICE_TOKEN: 't' });
  for (let i = 1; i <= 20; i++) {
    await appendFile(path.join(logs, 'EM Server.log'), operatingHoursLine(i));
  }
  await waitFor(
    async () => (responses.length >= 3 && itemsReceived >= 19 ? true : undefined),
    30_000,
    'a full run',
  );
}, 60_000);

afterAll(async () => {
  if (!onLinux) return;
  await stop(agent);
  server.close();
  await removeDir(dir);
});

/** Socket inodes the process holds open. */
async function socketInodes(pid: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]!);
  }
  return inodes;
}

/** Rows of /proc/PID/net/<table> that belong to the process: [state or flags, local address]. */
async function rows(pid: number, table: string, inodes: Set<string>) {
  const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
  return text
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => inodes.has(table === 'unix' ? cols[6]! : cols[9]!));
}

describe.skipIf(!onLinux)('the agent process (Linux /proc)', () => {
  it('answered requests, allowlisted ones only, and sent items', () => {
    expect(responses.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: 'r-1', ok: true },
      { id: 'r-2', ok: false },
      { id: 'r-3', ok: false },
    ]);
    expect(itemsReceived).toBeGreaterThanOrEqual(19);
  });

  it('owns no listening TCP, no bound UDP and no listening UNIX socket', async () => {
    const pid = agent.child.pid!;
    const inodes = await socketInodes(pid);
    const tcp = [...(await rows(pid, 'tcp', inodes)), ...(await rows(pid, 'tcp6', inodes))];
    // The established connection to the server shows the check sees the agent's sockets.
    expect(tcp.some((cols) => cols[3] === '01')).toBe(true);
    expect(tcp.filter((cols) => cols[3] === '0A')).toEqual([]);
    expect([...(await rows(pid, 'udp', inodes)), ...(await rows(pid, 'udp6', inodes))]).toEqual([]);
    // Flag __SO_ACCEPTCON (0x10000) marks a listening UNIX socket.
    const unix = await rows(pid, 'unix', inodes);
    expect(unix.filter((cols) => (parseInt(cols[3]!, 16) & 0x10000) !== 0)).toEqual([]);
  });
});
