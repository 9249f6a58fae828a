// The one status snapshot: the CLI's `status`, the server's `status` op and the tray
// window all show this object, so they can never disagree.
export const CONNECTION_STATES = [
  'connecting',
  'connected',
  'offline',
  'unauthorised',
  'error',
  'stopped',
] as const;
export type ConnectionState = (typeof CONNECTION_STATES)[number];

export interface CodedError {
  code: string;
  message: string;
}

/** A source's problem and when it was met: the latest may be long past. */
export interface SourceProblem extends CodedError {
  at: string;
}

export interface SourceStatus {
  id: string;
  folder: string;
  files: number;
  lastEventAt: string | null;
  /** Problems met so far; a lasting one (a missing folder) counts once. */
  errors: number;
  /** The latest problem; a missing folder's or an unreadable file's is cleared once it reads. */
  lastError: SourceProblem | null;
}

export interface StatusSnapshot {
  agent: { version: string; pid: number; startedAt: string | null };
  device: { id: string; kind: string; model?: string };
  server: { url: string; insecure: boolean };
  connection: {
    state: ConnectionState;
    since: string;
    lastError: CodedError | null;
    session: string | null;
    /** `direct`, or the proxy and scheme the connection went through. */
    via: string | null;
  };
  outbox: {
    stream: string | null;
    pending: number;
    oldestTs: string | null;
    sent: number;
    acked: number;
    dropped: number;
    lastAckAt: string | null;
  };
  /** The agent's own database: when it cannot be written, collection waits. */
  storage: { ok: boolean; lastError: CodedError | null };
  sources: SourceStatus[];
  keyStore: { name: string; available: boolean; detail: string };
  updatedAt: string;
}
