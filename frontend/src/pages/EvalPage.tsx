import { useEffect, useRef, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { isNotFound } from "../api/client";
import { followEval, getEval, isTerminal, listSamples } from "../api/evals";
import type { Eval, JobStatus, Sample, SampleFilter } from "../api/types";
import { Empty, ErrorMessage, Loading, NotFound } from "../components/Feedback";
import { Pager } from "../components/Pager";
import { StatusBadge } from "../components/StatusBadge";
import { UsageCard } from "../components/UsageCard";
import { formatDateTime, formatNumber, formatReward, shortHash } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { useTitle } from "../lib/useTitle";

const LOG_LINES = 300;
const SAMPLES_PER_PAGE = 20;
const FILTERS: { value: SampleFilter; label: string }[] = [
  { value: "all", label: "All samples" },
  { value: "failed", label: "Failed (errors)" },
  { value: "low_reward", label: "Low reward" },
];

function Messages({ value }: { value: unknown }) {
  if (value === null || value === undefined || value === "") return <span className="muted">—</span>;
  if (typeof value === "string") return <pre className="message-text">{value}</pre>;
  if (Array.isArray(value) && value.every((m) => m && typeof m === "object" && "role" in m)) {
    return (
      <ol className="messages">
        {value.map((m: { role: string; content?: unknown }, i) => (
          <li key={i} className={`message message-${m.role}`}>
            <span className="message-role">{m.role}</span>
            <pre className="message-text">{typeof m.content === "string" ? m.content : JSON.stringify(m.content ?? m, null, 2)}</pre>
          </li>
        ))}
      </ol>
    );
  }
  return <pre className="message-text">{JSON.stringify(value, null, 2)}</pre>;
}

export function sampleKey(s: Pick<Sample, "example_id" | "rollout_index">): string {
  return `${s.example_id}#${s.rollout_index}`;
}

function SampleRow({ s }: { s: Sample }) {
  const tokens = s.tokens_in != null || s.tokens_out != null ? (s.tokens_in ?? 0) + (s.tokens_out ?? 0) : null;
  return (
    <li className={`sample${s.error ? " sample-error" : ""}`} data-testid="sample-row">
      <details>
        <summary>
          <span className="sample-id">
            example {s.example_id} · rollout {s.rollout_index}
          </span>
          <span className="sample-reward">
            reward <strong>{formatReward(s.reward)}</strong>
          </span>
          {s.error && <span className="badge badge-error">error</span>}
        </summary>
        <div className="sample-body">
          {s.error && <p className="alert alert-error">{s.error}</p>}
          <h4>Prompt</h4>
          <Messages value={s.prompt} />
          <h4>Completion</h4>
          <Messages value={s.completion} />
          {s.answer != null && s.answer !== "" && (
            <>
              <h4>Answer</h4>
              <Messages value={s.answer} />
            </>
          )}
          {(Object.keys(s.metrics ?? {}).length > 0 || tokens != null || s.latency_s != null) && (
            <dl className="facts facts-inline">
              {Object.entries(s.metrics ?? {}).map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>{formatReward(v)}</dd>
                </div>
              ))}
              {tokens != null && (
                <div>
                  <dt>tokens</dt>
                  <dd>{formatNumber(tokens)}</dd>
                </div>
              )}
              {s.latency_s != null && (
                <div>
                  <dt>latency</dt>
                  <dd>{s.latency_s.toFixed(1)} s</dd>
                </div>
              )}
            </dl>
          )}
        </div>
      </details>
    </li>
  );
}

function Samples({ id, status }: { id: string; status: JobStatus }) {
  const [params, setParams] = useSearchParams();
  const filterParam = params.get("filter");
  const filter: SampleFilter = filterParam === "failed" || filterParam === "low_reward" ? filterParam : "all";
  const page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  const samples = useAsync(() => listSamples(id, { page, per_page: SAMPLES_PER_PAGE, filter }), [id, page, filter, status]);
  const hrefFor = (p: number) => {
    const next = new URLSearchParams(params);
    if (p > 1) next.set("page", String(p));
    else next.delete("page");
    return `?${next.toString()}`;
  };
  return (
    <section aria-labelledby="samples-title" className="samples">
      <div className="section-head">
        <h2 id="samples-title">Samples</h2>
        <div className="field field-inline">
          <label htmlFor="sample-filter">Show</label>
          <select
            id="sample-filter"
            value={filter}
            data-testid="sample-filter"
            onChange={(e) => {
              const next = new URLSearchParams(params);
              if (e.target.value === "all") next.delete("filter");
              else next.set("filter", e.target.value);
              next.delete("page");
              setParams(next, { replace: true });
            }}
          >
            {FILTERS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      {samples.error ? (
        <ErrorMessage error={samples.error} onRetry={samples.reload} />
      ) : !samples.data ? (
        <Loading />
      ) : samples.data.items.length === 0 ? (
        <Empty>{filter === "all" ? (isTerminal(status) ? "This run has no samples." : "No samples yet.") : "No samples match this filter."}</Empty>
      ) : (
        <>
          <p className="muted small">{formatNumber(samples.data.total)} samples</p>
          <ol className="sample-list" aria-label="Samples">
            {samples.data.items.map((s) => (
              <SampleRow key={sampleKey(s)} s={s} />
            ))}
          </ol>
          <Pager page={page} total={samples.data.total} perPage={samples.data.per_page || SAMPLES_PER_PAGE} hrefFor={hrefFor} label="Sample pages" />
        </>
      )}
    </section>
  );
}

export default function EvalPage() {
  const { id = "" } = useParams();
  const run = useAsync(() => getEval(id), [id]);
  const [live, setLive] = useState<{ status: JobStatus; progress?: Eval["progress"] } | null>(null);
  const [log, setLog] = useState<string[] | null>(null);
  const logRef = useRef<HTMLPreElement>(null);
  useTitle(`Evaluation ${id.slice(0, 8)}`);

  const initialStatus = run.data?.status;
  const reload = run.reload;
  useEffect(() => {
    if (!initialStatus || isTerminal(initialStatus)) return;
    // The stream continues the log from where the tail loaded with the run ends.
    return followEval(
      id,
      {
        onStatus: (e) => setLive((prev) => ({ status: e.status, progress: e.progress ?? prev?.progress })),
        onLog: (e) => setLog((prev) => (e.replace ? e.lines : [...(prev ?? run.data?.log_tail ?? []), ...e.lines]).slice(-LOG_LINES)),
        onDone: () => reload(),
      },
      3000,
      run.data?.log_offset ?? 0,
    );
    // follow once per run id / loaded state, not on every log line
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id, initialStatus, reload]);

  const lines = log ?? run.data?.log_tail ?? [];
  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines.length]);

  if (isNotFound(run.error)) return <NotFound what={`Evaluation ${id}`} />;
  if (run.error) return <ErrorMessage error={run.error} onRetry={run.reload} />;
  if (!run.data) return <Loading />;

  const e = run.data;
  const status = live && !isTerminal(e.status) ? live.status : e.status;
  const progress = (live && !isTerminal(e.status) ? live.progress : undefined) ?? e.progress;
  const [owner, name] = e.environment.split("/");
  const total = progress?.total ?? null;
  const pct = progress && total ? Math.min(100, Math.round((100 * progress.completed) / total)) : 0;
  const metrics = Object.entries(e.metrics ?? {});

  return (
    <article className="eval-page" aria-labelledby="eval-title">
      <header className="eval-header">
        <h1 id="eval-title">
          Evaluation <code>{String(e.id).slice(0, 12)}</code>
        </h1>
        <p className="eval-subtitle">
          <Link to={`/${encodeURIComponent(owner)}/${encodeURIComponent(name ?? "")}/v/${encodeURIComponent(e.version)}`}>
            {e.environment}@{e.version}
          </Link>{" "}
          on <strong>{e.model}</strong>
        </p>
        <div className="eval-status" role="status" aria-live="polite" aria-atomic="true">
          <StatusBadge status={status} testId="eval-status" />
          {progress && !isTerminal(status) && (
            <span className="progress-wrap">
              {total ? (
                <progress max={total} value={progress.completed} aria-label="Rollouts completed" data-testid="eval-progress" />
              ) : (
                <progress aria-label="Rollouts completed" data-testid="eval-progress" />
              )}
              <span className="small">
                {formatNumber(progress.completed)}
                {total ? ` / ${formatNumber(total)} rollouts (${pct}%)` : " rollouts"}
              </span>
            </span>
          )}
        </div>
        {e.error && (
          <p className="alert alert-error" role="alert" data-testid="eval-error">
            {e.error}
          </p>
        )}
      </header>

      <div className="eval-grid">
        <section className="card" aria-labelledby="spec-title">
          <h2 id="spec-title" className="card-title">
            Specification
          </h2>
          <dl className="facts" data-testid="eval-spec">
            <dt>Environment</dt>
            <dd>{e.environment}</dd>
            <dt>Version</dt>
            <dd>
              {e.version}{" "}
              <code className="hash" title={e.content_hash}>
                {shortHash(e.content_hash, 8)}
              </code>
            </dd>
            <dt>Model</dt>
            <dd>{e.model}</dd>
            <dt>Examples</dt>
            <dd>{formatNumber(e.num_examples)}</dd>
            <dt>Rollouts / example</dt>
            <dd>{e.rollouts_per_example}</dd>
            <dt>Temperature</dt>
            <dd>{e.sampling_args?.temperature ?? "default"}</dd>
            <dt>Max tokens</dt>
            <dd>{e.sampling_args?.max_tokens ?? "default"}</dd>
            <dt>Created</dt>
            <dd>
              {formatDateTime(e.created_at)}
              {e.created_by ? ` by ${e.created_by}` : ""}
            </dd>
            {e.started_at && (
              <>
                <dt>Started</dt>
                <dd>{formatDateTime(e.started_at)}</dd>
              </>
            )}
            {e.finished_at && (
              <>
                <dt>Finished</dt>
                <dd>{formatDateTime(e.finished_at)}</dd>
              </>
            )}
          </dl>
        </section>
        <section className="card" aria-labelledby="metrics-title">
          <h2 id="metrics-title" className="card-title">
            Metrics
          </h2>
          {metrics.length === 0 ? (
            <Empty>{isTerminal(status) ? "No metrics were recorded." : "Metrics appear when the run finishes."}</Empty>
          ) : (
            <dl className="facts metrics" data-testid="eval-metrics">
              {metrics.map(([k, v]) => (
                <div key={k} className="metric">
                  <dt>{k}</dt>
                  <dd>{formatReward(v)}</dd>
                </div>
              ))}
            </dl>
          )}
        </section>
        {e.hosted && isTerminal(status) && <UsageCard id={String(e.id)} cost={e.cost} />}
      </div>

      <section aria-labelledby="log-title" className="log-section">
        <h2 id="log-title">Log</h2>
        {lines.length === 0 ? (
          <Empty>No log output yet.</Empty>
        ) : (
          <pre className="log" ref={logRef} tabIndex={0} aria-label="Log tail" data-testid="eval-log">
            {lines.join("\n")}
          </pre>
        )}
      </section>

      <Samples id={String(e.id)} status={status} />
    </article>
  );
}
