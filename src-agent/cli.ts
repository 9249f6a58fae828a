// scopelink-agent: the headless contract of ../shared/agent-cli.md.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from './config/load.ts';
import { diagnose, formatDiagnostics } from './diagnose.ts';
import { Engine, InsecureUrlError } from './engine.ts';
import { EnvSecrets } from './secrets/secrets.ts';
import { createLogger } from './log.ts';
import { Outbox } from './outbox/outbox.ts';
import { ProfileError } from './profiles/load.ts';
import type { StatusSnapshot } from './status.ts';
import { isAlive, readStatusFile } from './status-file.ts';
import { AGENT_VERSION } from './version.ts';

const USAGE = `usage:
  scopelink-agent run --config FILE [--insecure-dev]
  scopelink-agent status --config FILE
  scopelink-agent diagnose --config FILE [--json]
  scopelink-agent --version`;

/** Exit codes: 0 clean stop, 1 runtime failure, 2 bad invocation or configuration. */
async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'insecure-dev': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        version: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    console.log(AGENT_VERSION);
    return 0;
  }
  const [command] = positionals;
  if (values.help || !command) {
    (values.help ? console.log : console.error)(USAGE);
    return values.help ? 0 : 2;
  }
  if (command !== 'run' && command !== 'status' && command !== 'diagnose') {
    console.error(`unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  if (!values.config) {
    console.error(`--config FILE is required\n${USAGE}`);
    return 2;
  }
  if (command === 'diagnose') return runDiagnostics(values.config, values.json);
  return command === 'run' ? run(values.config, values['insecure-dev']) : status(values.config);
}

async function run(configFile: string, insecure: boolean): Promise<number> {
  const log = createLogger({ level: process.env.SCOPELINK_LOG_LEVEL ?? 'info' });
  let engine: Engine;
  try {
    engine = new Engine(await loadConfigFile(configFile), {
      log,
      insecure,
      parseWorker: builtParseWorker(),
    });
  } catch (err) {
    return reportStartFailure(err);
  }
  return new Promise((resolve) => {
    let stopping = false;
    // Installed before start, so that a signal during start-up still stops cleanly.
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${signal} received: stopping`);
      started
        .catch(() => undefined)
        .then(() => engine.stop())
        .then(
          () => resolve(0),
          (err: Error) => {
            log.error(`stop failed: ${err.message}`);
            resolve(1);
          },
        );
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    const started = engine.start();
    started.catch((err: unknown) => {
      if (!stopping) resolve(reportStartFailure(err));
    });
  });
}

/**
 * The parse worker is built beside the agent's bundle (scripts/build-agent.mjs); run from its
 * TypeScript sources, the agent parses on its main thread.
 */
function builtParseWorker(): URL | undefined {
  const worker = new URL('./parse-worker.cjs', import.meta.url);
  return existsSync(worker) ? worker : undefined;
}

function reportStartFailure(err: unknown): number {
  const message = (err as Error).message ?? String(err);
  if (
    err instanceof ConfigError ||
    err instanceof ProfileError ||
    err instanceof InsecureUrlError
  ) {
    console.error(`scopelink-agent: configuration error\n${message}`);
    return 2;
  }
  console.error(`scopelink-agent: cannot start: ${message}`);
  return 1;
}

/** Exit 0 when every step succeeded, 1 when one failed. */
async function runDiagnostics(configFile: string, json: boolean): Promise<number> {
  let config;
  try {
    config = await loadConfigFile(configFile);
  } catch (err) {
    return reportStartFailure(err);
  }
  const steps = await diagnose(config, new EnvSecrets());
  console.log(json ? JSON.stringify(steps) : formatDiagnostics(steps));
  return steps.every((s) => s.ok) ? 0 : 1;
}

async function status(configFile: string): Promise<number> {
  let dataDir: string;
  try {
    dataDir = (await loadConfigFile(configFile)).dataDir;
  } catch (err) {
    return reportStartFailure(err);
  }
  const published = await readStatusFile(dataDir);
  if (published && isAlive(published.agent.pid) && published.connection.state !== 'stopped') {
    console.log(JSON.stringify(published));
    return 0;
  }
  console.log(JSON.stringify(await stoppedStatus(dataDir, published)));
  return 0;
}

/** No agent runs: the last published snapshot, with what the outbox holds now. */
async function stoppedStatus(dataDir: string, last: StatusSnapshot | null) {
  const db = path.join(dataDir, 'outbox.db');
  const outbox = existsSync(db)
    ? await Outbox.peek(db)
    : { stream: null, pending: 0, oldestTs: null };
  return {
    ...last,
    connection: {
      state: 'stopped',
      since: last?.updatedAt ?? null,
      lastError: last?.connection.lastError ?? null,
    },
    outbox: { sent: 0, acked: 0, dropped: 0, ...last?.outbox, ...outbox },
    sources: last?.sources ?? [],
  };
}

process.exit(await main(process.argv.slice(2)));
