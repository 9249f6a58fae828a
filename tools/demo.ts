// `npm run demo`: the reference server, a simulated microscope writing live logs, and
// the real headless agent as its own process, with a live view of what flows where.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { buildAgent } from '../scripts/build-agent.mjs';
import { readStatusFile } from '../src-agent/status-file.ts';
import type { StatusSnapshot } from '../src-agent/status.ts';
import { startServer, type RunningServer } from '../src-server/server.ts';
import { DEFAULT_XRM_VERSION, startSimulator, type Kind } from './simulator.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const demoDir = path.join(root, '.demo');
const agentBin = path.join(root, 'bin/scopelink-agent.js');

interface DemoDevice {
  id: string;
  kind: Kind;
  model: string;
  sources: Record<string, { folder: string }>;
}

const logs = path.join(demoDir, 'microscope');
const devices: DemoDevice[] = [
  {
    id: 'EM-4711',
    kind: 'em',
    model: 'GeminiSEM 560',
    sources: {
      'em-server': { folder: path.join(logs, 'em/SmartSEM/Log') },
      'smartsem-logs': { folder: path.join(logs, 'em/SmartSEM/Log') },
    },
  },
  {
    id: 'LM-0815',
    kind: 'lm',
    model: 'Axio Observer 7',
    sources: {
      zen: { folder: path.join(logs, 'lm/Logging') },
      'zen-core': { folder: path.join(logs, 'lm/Logging') },
      'remote-service': { folder: path.join(logs, 'lm/Remote Service') },
    },
  },
  {
    id: 'XRM-0042',
    kind: 'xrm',
    model: 'Xradia 630 Versa',
    sources: {
      'xradia-app': { folder: path.join(logs, 'xrm/Xradia Versa/<version>/Log Files') },
      'xray-source': { folder: path.join(logs, 'xrm/Xradia Versa/<version>/logs') },
    },
  },
];

interface RunningAgent {
  device: DemoDevice;
  dataDir: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

async function main(): Promise<void> {
  // The agent runs from its bundle: built from the current sources.
  buildAgent();
  const port = Number(process.env.SCOPELINK_DEMO_PORT ?? 8443);
  // A fresh start each time: the demo shows a first connection and a backfill.
  await rm(demoDir, { recursive: true, force: true });
  await mkdir(demoDir, { recursive: true });

  const serverLog = pino({ level: 'info' }, createWriteStream(path.join(demoDir, 'server.log')));
  const server = await startServer({ dataDir: path.join(demoDir, 'server'), port, log: serverLog });
  // The microscopes' software is installed: their log folders are there before the agents
  // start, as in a lab. The simulator makes a folder only with its first line, which for a
  // quiet source came after the agent had looked and counted the folder as missing.
  await Promise.all(
    devices.flatMap((d) =>
      Object.values(d.sources).map(({ folder }) =>
        mkdir(folder.replace('<version>', DEFAULT_XRM_VERSION), { recursive: true }),
      ),
    ),
  );
  const simulator = startSimulator({ root: logs, linesPerSecond: 4 });
  const agents = await Promise.all(devices.map((d) => startAgent(d, server)));

  const startedAt = Date.now();
  const timer = setInterval(
    () => void render(server, agents, simulator.written(), startedAt),
    1000,
  );
  await render(server, agents, simulator.written(), startedAt);

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    console.log(
      '\nstopping: agents first (they finish in-flight sends), then the simulator and server',
    );
    for (const agent of agents) agent.child.kill('SIGTERM');
    const codes = await Promise.all(agents.map((a) => a.exited));
    await simulator.stop();
    await server.close();
    console.log(
      `stopped (agent exit codes: ${codes.join(', ')}). Logs and databases are in ${demoDir}`,
    );
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  for (const agent of agents) {
    void agent.exited.then((code) => {
      if (!stopping) {
        console.error(
          `\nthe agent for ${agent.device.id} exited unexpectedly (${code}); see ${agentLog(agent.device)}`,
        );
        void shutdown();
      }
    });
  }
}

const agentLog = (device: DemoDevice) => path.join(demoDir, `agent-${device.id}.log`);

async function startAgent(device: DemoDevice, server: RunningServer): Promise<RunningAgent> {
  const token = await server.store.addDevice(device.id);
  const dir = path.join(demoDir, `agent-${device.id}`);
  await mkdir(dir, { recursive: true });
  const config = path.join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify(
      {
        serverUrl: server.url,
        caFile: server.caFile,
        dataDir: 'data',
        device: { id: device.id, kind: device.kind, model: device.model },
        sources: device.sources,
        collect: { pollIntervalSec: 1 },
      },
      null,
      2,
    ),
  );
  const out = createWriteStream(agentLog(device));
  // The token goes through the environment, never into the config file.
  const child = spawn(process.execPath, [agentBin, 'run', '--config', config], {
    env: { ...process.env, SCOPELINK_DEVICE_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { device, dataDir: path.join(dir, 'data'), child, exited };
}

const STATE_LABEL: Record<string, string> = {
  connecting: 'connecting…',
  connected: 'CONNECTED',
  offline: 'offline (retrying)',
  unauthorised: 'NOT AUTHORISED',
  error: 'ERROR',
  stopped: 'stopped',
};

async function render(
  server: RunningServer,
  agents: RunningAgent[],
  linesWritten: number,
  startedAt: number,
) {
  const stats = await server.stats();
  const recent = (await server.store.listItems({ limit: 8 })).reverse();
  const lines: string[] = [];
  const elapsed = Math.round((Date.now() - startedAt) / 1000);
  lines.push(`ScopeLink demo — ${elapsed}s — Ctrl-C stops everything cleanly`);
  lines.push(`server   ${server.url}  (CA: ${path.relative(root, server.caFile)})`);
  lines.push(`simulator ${linesWritten} log lines written under ${path.relative(root, logs)}/`);
  lines.push('');
  lines.push('AGENTS (headless, one process per microscope)');
  for (const agent of agents) {
    const status: StatusSnapshot | null = await readStatusFile(agent.dataDir);
    if (!status) {
      lines.push(`  ${agent.device.id.padEnd(9)} starting…`);
      continue;
    }
    const c = status.connection;
    const o = status.outbox;
    lines.push(
      `  ${agent.device.id.padEnd(9)} ${STATE_LABEL[c.state] ?? c.state}${c.lastError ? ` (${c.lastError.code})` : ''}` +
        `   sent ${o.sent}  acked ${o.acked}  pending ${o.pending}`,
    );
    for (const s of status.sources) {
      lines.push(
        `    ${s.id.padEnd(16)} ${s.files} file(s)  last event ${s.lastEventAt ?? '—'}  errors ${s.errors}`,
      );
    }
  }
  lines.push('');
  lines.push('SERVER (stored per device)');
  for (const d of stats) {
    lines.push(
      `  ${d.id.padEnd(9)} ${d.connected ? 'online ' : 'offline'}  ${String(d.items).padStart(6)} items  last received ${d.lastItemAt ?? '—'}`,
    );
  }
  lines.push('');
  lines.push('LATEST ITEMS AT THE SERVER');
  for (const item of recent) {
    const value = typeof item.value === 'string' ? JSON.stringify(item.value) : String(item.value);
    lines.push(
      `  ${item.ts}  ${item.device}  ${item.name} = ${value}${item.unit ? ` ${item.unit}` : ''}`,
    );
  }
  if (process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H' + lines.join('\n') + '\n');
  else if (elapsed % 5 === 0) console.log(lines.join('\n') + '\n');
}

main().catch((err: Error) => {
  console.error(`demo failed: ${err.message}`);
  process.exit(1);
});
