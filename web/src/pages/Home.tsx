import { useEffect, useState } from 'react';
import { ApiError, getHealth, getReadiness, getSystemInfo, type Readiness, type SystemInfo } from '../api';

interface Snapshot {
  health: PromiseSettledResult<{ status: string }>;
  readiness: PromiseSettledResult<Readiness>;
  info: PromiseSettledResult<SystemInfo>;
}

const reasonText = (reason: unknown) => (reason instanceof Error ? reason.message : 'Unexpected error.');

function StatusBadge({ status }: { status: string }) {
  const tone = status === 'ok' ? 'ok' : status === 'unknown' ? 'neutral' : 'fail';
  return <span className={`badge badge-${tone}`}>{status.replace(/_/g, ' ')}</span>;
}

function Row({ label, status, detail }: { label: string; status: string; detail?: string }) {
  return (
    <li className="status-row">
      <span className="status-label">{label}</span>
      <StatusBadge status={status} />
      {detail && <span className="status-detail">{detail}</span>}
    </li>
  );
}

export function Home() {
  const [snapshot, setSnapshot] = useState<Snapshot | null>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    void Promise.allSettled([getHealth(signal), getReadiness(signal), getSystemInfo(signal)]).then(
      ([health, readiness, info]) => {
        if (signal.aborted) return;
        setSnapshot({ health, readiness, info });
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [generation]);

  const refresh = () => {
    setLoading(true);
    setGeneration((n) => n + 1);
  };

  const info = snapshot?.info.status === 'fulfilled' ? snapshot.info.value : null;

  return (
    <>
      <section className="hero">
        <h1>Agentic</h1>
        <p className="lead">A self-hostable platform for building and running LLM agents.</p>
      </section>

      {info?.needs_setup && (
        <section className="callout" aria-labelledby="setup-heading">
          <h2 id="setup-heading">Finish setting up</h2>
          <p>This instance has no administrator yet. Open the one-time setup link printed in the server log.</p>
          <a className="button" href="/setup">
            Go to setup
          </a>
        </section>
      )}

      <section className="card" aria-labelledby="status-heading" aria-busy={loading}>
        <div className="card-header">
          <h2 id="status-heading">System status</h2>
          <button type="button" onClick={refresh}>
            Refresh status
          </button>
        </div>
        {snapshot === null ? (
          <p role="status">Checking the server…</p>
        ) : (
          <StatusList snapshot={snapshot} />
        )}
      </section>

      <nav className="links" aria-label="Resources">
        <a href="/docs">API documentation</a>
        <a href="/openapi.json">OpenAPI schema</a>
        <a href="/metrics">Prometheus metrics</a>
      </nav>
    </>
  );
}

function StatusList({ snapshot }: { snapshot: Snapshot }) {
  const { health, readiness, info } = snapshot;
  const unreachable = [health, readiness, info].some(
    (r) => r.status === 'rejected' && r.reason instanceof ApiError && r.reason.status === 0,
  );

  return (
    <>
      {unreachable && (
        <p className="error" role="alert">
          Could not reach the API. Is the server running?
        </p>
      )}
      <ul className="status-list">
        {health.status === 'fulfilled' ? (
          <Row label="API" status={health.value.status} />
        ) : (
          <Row label="API" status="unreachable" detail={reasonText(health.reason)} />
        )}
        {readiness.status === 'fulfilled' ? (
          <>
            <Row label="Readiness" status={readiness.value.status} />
            {Object.entries(readiness.value.checks).map(([name, check]) => (
              <Row
                key={name}
                label={name.charAt(0).toUpperCase() + name.slice(1)}
                status={check.status}
                detail={typeof check.latency_ms === 'number' ? `${check.latency_ms.toFixed(1)} ms` : undefined}
              />
            ))}
          </>
        ) : (
          <Row label="Readiness" status="unknown" detail={reasonText(readiness.reason)} />
        )}
      </ul>
      {info.status === 'fulfilled' ? (
        <dl className="facts">
          <dt>Version</dt>
          <dd>{info.value.version}</dd>
          <dt>Environment</dt>
          <dd>{info.value.environment}</dd>
          <dt>Database</dt>
          <dd>{info.value.database_backend}</dd>
          <dt>Redis</dt>
          <dd>{info.value.redis_configured ? 'configured' : 'not configured'}</dd>
        </dl>
      ) : (
        <p className="muted">System information unavailable: {reasonText(info.reason)}</p>
      )}
    </>
  );
}
