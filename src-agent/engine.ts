// Wires collection, the outbox and the session, owns their lifecycle, and emits one
// typed status snapshot. It knows nothing of how it is hosted (CLI or tray app).
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Collector } from './collect/collector.ts';
import { resolveSources } from './collect/sources.ts';
import type { AgentConfig } from './config/schema.ts';
import { lockDataDir } from './data-lock.ts';
import { silentLogger, type Logger } from './log.ts';
import { Outbox } from './outbox/outbox.ts';
import { StorageError } from './outbox/storage-error.ts';
import type { ProfileSource } from './profiles/schema.ts';
import { loadProfile, BUILTIN_PROFILES_DIR } from './profiles/load.ts';
import { createRequestHandler } from './requests/handle.ts';
import { detectKeyStore, type KeyStoreInfo } from './secrets/keystore.ts';
import { EnvSecrets, type SecretSource } from './secrets/secrets.ts';
import type { StatusSnapshot } from './status.ts';
import { writeStatusFile } from './status-file.ts';
import { Session } from './transport/session.ts';
import { trustAnchors } from './transport/tls.ts';
import { resolveRoutes } from './transport/proxy/routes.ts';
import { AGENT_VERSION } from './version.ts';
import { releaseMemory } from './memory.ts';

export interface EngineOptions {
  log?: Logger;
  secrets?: SecretSource;
  /** Allows ws:// for development; reported in the status, never silent. */
  insecure?: boolean;
  /** How often the status snapshot is refreshed for listeners and the status file. */
  statusIntervalMs?: number;
  /** The built parse worker (see Collector); without it, parsing stays on this thread. */
  parseWorker?: URL;
}

const OPEN_RETRY_MS = 10_000;

export class InsecureUrlError extends Error {
  readonly code = 'insecure_url';
}

export class Engine {
  private readonly log: Logger;
  private readonly events = new EventEmitter<{ status: [StatusSnapshot] }>();
  private outbox: Outbox | null = null;
  private collector: Collector | null = null;
  private session: Session | null = null;
  private keyStore: KeyStoreInfo = { name: 'none', available: false, detail: 'not checked yet' };
  private startedAt: string | null = null;
  private stateSince = new Date().toISOString();
  private statusTimer: NodeJS.Timeout | null = null;
  private unlock: (() => Promise<void>) | null = null;
  private lastPublished = '';
  private statusWrites: Promise<void> = Promise.resolve();
  private openError: StorageError | null = null;
  /** Timestamp of the oldest unacknowledged item, refreshed with the status. */
  private oldestPending: string | null = null;
  private openRetry: NodeJS.Timeout | null = null;
  private stopping = false;

  constructor(
    private readonly config: AgentConfig,
    private readonly options: EngineOptions = {},
  ) {
    this.log = options.log ?? silentLogger();
    if (/^ws:\/\//i.test(config.serverUrl) && !options.insecure) {
      throw new InsecureUrlError(
        'serverUrl: ws:// sends data unencrypted; use wss:// (or the insecure development switch)',
      );
    }
  }

  async start(): Promise<void> {
    const { config, log } = this;
    // Configuration problems surface before anything is written.
    const profile = await loadProfile(
      config.device.kind,
      config.profilesDir ?? BUILTIN_PROFILES_DIR,
    );
    const sources = resolveSources(profile, config.sources);
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    this.unlock = await lockDataDir(config.dataDir);
    try {
      // Loading the key store's native module need not hold up collection.
      const keyStore = detectKeyStore().then((found) => {
        this.keyStore = found;
        log.info(`key store: ${found.name} (${found.detail})`);
      });
      if (this.options.insecure)
        log.warn('INSECURE DEVELOPMENT MODE: ws:// without TLS is allowed');
      this.startedAt = new Date().toISOString();
      log.info(
        { device: config.device.id, sources: sources.map((s) => s.id) },
        `agent ${AGENT_VERSION} starting for ${config.device.id} (${config.device.kind})`,
      );
      this.statusTimer = setInterval(
        () => void this.refreshOldest().then(() => this.publish()),
        this.options.statusIntervalMs ?? 1000,
      );
      await this.startPipeline(sources);
      await keyStore;
      this.publish();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Opens the outbox and starts collecting and sending. A damaged database does not stop
   * the agent: it says so in its status and tries again until the cause is gone.
   */
  private async startPipeline(sources: ProfileSource[]): Promise<void> {
    const { config, log } = this;
    const file = path.join(config.dataDir, 'outbox.db');
    try {
      this.outbox = await Outbox.open(file, {
        maxItems: config.outbox.maxItems,
        maxBytes: config.outbox.maxMB * 1024 * 1024,
      });
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
      if (this.openError?.message !== err.message) log.error({ code: err.code }, err.message);
      this.openError = err;
      this.publish();
      this.openRetry = setTimeout(() => {
        this.startPipeline(sources).catch((e: Error) => log.error(`cannot start: ${e.message}`));
      }, OPEN_RETRY_MS);
      return;
    }
    if (this.stopping) {
      await this.outbox.close();
      this.outbox = null;
      return;
    }
    if (this.openError) log.info('the outbox database opened: collection starts');
    this.openError = null;
    this.outbox.on('dropped', (count) =>
      log.warn(
        { count },
        `outbox quota reached: ${count} oldest items dropped and reported as a gap`,
      ),
    );
    const secrets = this.options.secrets ?? new EnvSecrets();
    this.session = new Session({
      url: config.serverUrl,
      token: await secrets.get('device-token'),
      device: { id: config.device.id, kind: config.device.kind, model: config.device.model },
      agentVersion: AGENT_VERSION,
      ca: await trustAnchors(config.caFile),
      pins: config.tls?.pins ?? [],
      routes: resolveRoutes(
        config.proxy,
        await secrets.get('proxy-password'),
        new URL(config.serverUrl),
      ),
      outbox: this.outbox,
      log: log.child({ part: 'session' }),
      handleRequest: this.auditedRequests(),
    });
    this.session.on('state', (state, error) => {
      this.stateSince = new Date().toISOString();
      log.info(
        { state, code: error?.code },
        `connection ${state}${error ? `: ${error.message}` : ''}`,
      );
      this.publish();
    });
    this.collector = new Collector(sources, this.outbox, log.child({ part: 'collect' }), {
      pollIntervalMs: config.collect.pollIntervalSec * 1000,
      backfill: config.collect.backfill,
      releaseMemory,
      parseWorker: this.options.parseWorker,
      parseThreads: config.collect.parseThreads,
    });
    // The first scan (a backfill may take minutes) runs on: start() returns, so that the
    // host can install its signal handlers and a stop can interrupt the scan.
    void this.collector
      .start()
      .catch((err: Error) => log.error(`collection failed: ${err.message}`));
    // The collector first: its parse workers boot while the session builds its TLS context
    // (some 40 ms of this thread), where they waited for it before.
    this.session.start();
  }

  /** Stops reading, lets in-flight sends finish (at most 5 s), closes the database. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.openRetry) clearTimeout(this.openRetry);
    this.statusTimer = null;
    await this.collector?.stop();
    await this.session?.stop(5000);
    this.publish();
    await this.statusWrites;
    await this.release();
    this.log.info('agent stopped');
  }

  status(): StatusSnapshot {
    const { config } = this;
    const session = this.session;
    return {
      agent: { version: AGENT_VERSION, pid: process.pid, startedAt: this.startedAt },
      device: { ...config.device },
      server: { url: config.serverUrl, insecure: this.options.insecure === true },
      connection: {
        state: session?.state ?? 'stopped',
        since: this.stateSince,
        lastError: session?.lastError ?? null,
        session: session?.sessionId ?? null,
        via: session?.via ?? null,
      },
      outbox: {
        stream: this.outbox?.stream ?? null,
        pending: this.outbox?.pending ?? 0,
        oldestTs: this.oldestPending,
        sent: session?.counters.sent ?? 0,
        acked: session?.counters.acked ?? 0,
        dropped: this.outbox?.dropped ?? 0,
        lastAckAt: session?.counters.lastAckAt ?? null,
      },
      storage: this.storageStatus(),
      sources: this.collector?.status() ?? [],
      keyStore: { ...this.keyStore },
      updatedAt: new Date().toISOString(),
    };
  }

  private storageStatus(): StatusSnapshot['storage'] {
    const err = this.openError ?? this.collector?.storageError ?? null;
    return { ok: err === null, lastError: err && { code: err.code, message: err.message } };
  }

  onStatus(listener: (status: StatusSnapshot) => void): () => void {
    this.events.on('status', listener);
    return () => this.events.off('status', listener);
  }

  private async refreshOldest(): Promise<void> {
    this.oldestPending = (await this.outbox?.oldestTs().catch(() => this.oldestPending)) ?? null;
  }

  private publish(): void {
    const status = this.status();
    const { updatedAt: _, ...comparable } = status;
    const key = JSON.stringify(comparable);
    if (key === this.lastPublished) return;
    this.lastPublished = key;
    this.events.emit('status', status);
    this.statusWrites = this.statusWrites
      .then(() => writeStatusFile(this.config.dataDir, status))
      .catch((err: Error) => this.log.warn(`cannot write the status file: ${err.message}`));
  }

  private auditedRequests() {
    const handle = createRequestHandler({ status: () => this.status() });
    return async (request: Parameters<typeof handle>[0]) => {
      const answer = await handle(request);
      this.log.info(
        { audit: true, op: request.op, id: request.id, ok: answer.ok, code: answer.error?.code },
        `server request ${request.op}: ${answer.ok ? 'answered' : `refused (${answer.error?.code})`}`,
      );
      return answer;
    };
  }

  private async release(): Promise<void> {
    await this.outbox
      ?.close()
      .catch((err: Error) => this.log.error(`closing the outbox: ${err.message}`));
    this.outbox = null;
    await this.unlock?.();
    this.unlock = null;
  }
}
