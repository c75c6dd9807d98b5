import { getUsage } from "../api/evals";
import type { UsagePage } from "../api/types";
import { Empty, ErrorMessage, Loading } from "./Feedback";
import { formatNumber } from "../lib/format";
import { useAsync } from "../lib/useAsync";

function seconds(x: number | null | undefined): string {
  return x == null ? "—" : `${x.toFixed(2)} s`;
}

/** The numbers of a usage summary, separate from fetching so it renders in unit tests. */
export function UsageFacts({ usage, cost }: { usage: UsagePage; cost: number | null }) {
  const s = usage.summary;
  if (s.requests === 0) return <Empty>The gateway recorded no model requests for this run.</Empty>;
  return (
    <dl className="facts" data-testid="eval-usage">
      <dt>Model requests</dt>
      <dd>
        {formatNumber(s.requests)}
        {s.refused > 0 && <span className="badge badge-error"> {formatNumber(s.refused)} refused</span>}
      </dd>
      <dt>Prompt tokens</dt>
      <dd>{formatNumber(s.prompt_tokens)}</dd>
      <dt>Completion tokens</dt>
      <dd>
        {formatNumber(s.completion_tokens)}
        {s.estimated > 0 && <span className="muted"> ({formatNumber(s.estimated)} estimated)</span>}
      </dd>
      <dt>Latency p50 / p95</dt>
      <dd>
        {seconds(s.latency_p50_s)} / {seconds(s.latency_p95_s)}
      </dd>
      {s.attempts > 1 && (
        <>
          <dt>Attempts</dt>
          <dd>{s.attempts}</dd>
        </>
      )}
      {cost != null && (
        <>
          <dt>Cost</dt>
          <dd>${cost.toFixed(4)}</dd>
        </>
      )}
    </dl>
  );
}

/** What the hub's model gateway counted for a hosted run, once the run has ended. */
export function UsageCard({ id, cost }: { id: string; cost: number | null }) {
  const usage = useAsync(() => getUsage(id), [id]);
  return (
    <section className="card" aria-labelledby="usage-title">
      <h2 id="usage-title" className="card-title">
        Model usage
      </h2>
      {usage.error ? (
        <ErrorMessage error={usage.error} onRetry={usage.reload} />
      ) : usage.data ? (
        <UsageFacts usage={usage.data} cost={cost} />
      ) : (
        <Loading />
      )}
    </section>
  );
}
