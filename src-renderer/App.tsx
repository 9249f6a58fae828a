import type { ConnectionState, SourceProblem, SourceStatus } from '../src-main/ipc-contract.ts';
import { useStatusStore } from './store.ts';

const STATE_LABELS: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  offline: 'Offline',
  unauthorised: 'Not authorised',
  error: 'Error',
  stopped: 'Stopped',
};

function when(iso: string | null): string {
  return iso === null ? '—' : new Date(iso).toLocaleString();
}

/** The latest problem and when it was met: it may be long past. */
function problem(error: SourceProblem | null): string | undefined {
  return error === null ? undefined : `${error.message} (${when(error.at)})`;
}

function SourceRow({ source }: { source: SourceStatus }) {
  return (
    <tr>
      <th scope="row">{source.id}</th>
      <td className="folder">{source.folder}</td>
      <td className="number">{source.files}</td>
      <td>{when(source.lastEventAt)}</td>
      <td className="number" title={problem(source.lastError)}>
        {source.errors}
      </td>
    </tr>
  );
}

export function App() {
  const status = useStatusStore((state) => state.status);
  const error = useStatusStore((state) => state.error);

  if (status === null) {
    return (
      <main>
        <h1>ScopeLink</h1>
        {error === null ? <p>Reading status…</p> : <p role="alert">No status: {error}</p>}
      </main>
    );
  }

  const { connection, outbox, sources } = status;
  return (
    <main>
      <header>
        <h1>ScopeLink</h1>
        <p className={`state state-${connection.state}`} data-testid="connection-state">
          {STATE_LABELS[connection.state]}
        </p>
        {connection.lastError && <p className="last-error">{connection.lastError.message}</p>}
      </header>

      <section aria-labelledby="outbox-title">
        <h2 id="outbox-title">Items</h2>
        <dl className="counts">
          <div>
            <dt>Pending</dt>
            <dd data-testid="pending">{outbox.pending}</dd>
          </div>
          <div>
            <dt>Sent</dt>
            <dd data-testid="sent">{outbox.sent}</dd>
          </div>
          <div>
            <dt>Acknowledged</dt>
            <dd data-testid="acked">{outbox.acked}</dd>
          </div>
        </dl>
      </section>

      <section aria-labelledby="sources-title">
        <h2 id="sources-title">Sources</h2>
        {sources.length === 0 ? (
          <p>No sources configured.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Source</th>
                <th scope="col">Folder</th>
                <th scope="col">Files</th>
                <th scope="col">Last entry</th>
                <th scope="col">Errors</th>
              </tr>
            </thead>
            <tbody>
              {sources.map((source) => (
                <SourceRow key={source.id} source={source} />
              ))}
            </tbody>
          </table>
        )}
      </section>
    </main>
  );
}
