// scopelink-server: runs the reference server and inspects its database.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { startServer } from './server.ts';
import { openStore, type Store } from './store.ts';

const USAGE = `usage:
  scopelink-server run --data-dir DIR [--listen HOST:PORT] [--record-frames FILE]
  scopelink-server device add --data-dir DIR --id ID [--token TOKEN]
      (the token may also come from the environment variable SCOPELINK_DEVICE_TOKEN)
  scopelink-server items --data-dir DIR [--device ID] [--limit N]
  scopelink-server stats --data-dir DIR`;

const DEFAULT_LISTEN = '127.0.0.1:8443';

class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  switch (command) {
    case 'run':
      return run(args);
    case 'device': {
      const [action, ...rest] = args;
      if (action !== 'add') throw new UsageError('expected "device add"');
      return addDevice(rest);
    }
    case 'items':
      return printItems(args);
    case 'stats':
      return printStats(args);
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function run(args: string[]): Promise<void> {
  const values = parse(args, {
    'data-dir': { type: 'string' },
    listen: { type: 'string' },
    'record-frames': { type: 'string' },
  });
  const dataDir = path.resolve(required(values, 'data-dir'));
  const { host, port } = parseListen(optional(values, 'listen') ?? DEFAULT_LISTEN);
  const recordFrames = optional(values, 'record-frames');
  const log = pino(
    { level: process.env.LOG_LEVEL ?? 'info', redact: ['token', '*.token', '*.authorization'] },
    pretty({ destination: 2, sync: true }),
  );

  const server = await startServer({
    dataDir,
    host,
    port,
    log,
    recordFramesFile: recordFrames === undefined ? undefined : path.resolve(recordFrames),
  });
  console.log(JSON.stringify({ event: 'listening', url: server.url, caFile: server.caFile }));

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.close().catch((error: unknown) => {
      log.error({ err: error }, 'unclean shutdown');
      process.exitCode = 1;
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function addDevice(args: string[]): Promise<void> {
  const values = parse(args, {
    'data-dir': { type: 'string' },
    id: { type: 'string' },
    token: { type: 'string' },
  });
  const dataDir = path.resolve(required(values, 'data-dir'));
  const id = required(values, 'id');
  const token = optional(values, 'token') ?? process.env.SCOPELINK_DEVICE_TOKEN;
  await withStore(dataDir, async (store) => {
    try {
      console.log(await store.addDevice(id, token || undefined));
    } catch (error) {
      if (error instanceof RangeError) throw new UsageError(error.message);
      throw error;
    }
  });
}

async function printItems(args: string[]): Promise<void> {
  const values = parse(args, {
    'data-dir': { type: 'string' },
    device: { type: 'string' },
    limit: { type: 'string' },
  });
  const limitText = optional(values, 'limit');
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0)) {
    throw new UsageError('--limit must be a positive integer');
  }
  const dataDir = existingDataDir(required(values, 'data-dir'));
  await withStore(dataDir, async (store) => {
    for (const item of await store.listItems({ device: optional(values, 'device'), limit })) {
      console.log(JSON.stringify(item));
    }
  });
}

async function printStats(args: string[]): Promise<void> {
  const values = parse(args, { 'data-dir': { type: 'string' } });
  const dataDir = existingDataDir(required(values, 'data-dir'));
  await withStore(dataDir, async (store) => {
    console.log(JSON.stringify({ devices: await store.stats() }, null, 2));
  });
}

async function withStore(dataDir: string, use: (store: Store) => Promise<void>): Promise<void> {
  const store = await openStore(dataDir);
  try {
    await use(store);
  } finally {
    await store.close();
  }
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

function parse(args: string[], options: Options): Values {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // parseArgs reports unknown options and missing values as TypeErrors with a readable message.
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
}

function optional(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function required(values: Values, name: string): string {
  const value = optional(values, name);
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

// Reading commands must not create an empty database where an operator mistyped the path.
function existingDataDir(dir: string): string {
  const resolved = path.resolve(dir);
  if (!existsSync(path.join(resolved, 'server.db'))) {
    throw new UsageError(`no server database in ${resolved}`);
  }
  return resolved;
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new UsageError(`--listen must be HOST:PORT (e.g. ${DEFAULT_LISTEN}), got "${listen}"`);
  }
  return { host: (match[1] ?? match[2])!, port };
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`scopelink-server: ${error.message}\n${USAGE}`);
    process.exitCode = 2;
  } else {
    console.error(`scopelink-server: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
