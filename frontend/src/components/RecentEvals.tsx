import { Link } from "react-router-dom";
import type { EvalSummary } from "../api/types";
import { formatReward, relativeTime } from "../lib/format";
import { Empty } from "./Feedback";
import { StatusBadge } from "./StatusBadge";

export function RecentEvals({ items }: { items: EvalSummary[] }) {
  if (items.length === 0) return <Empty>No evaluations yet.</Empty>;
  const now = Date.now();
  return (
    <div className="table-wrap" role="region" aria-label="Recent evaluations" tabIndex={0}>
      <table className="table" data-testid="recent-evals">
        <thead>
          <tr>
            <th scope="col">Evaluation</th>
            <th scope="col">Model</th>
            <th scope="col">Version</th>
            <th scope="col">Status</th>
            <th scope="col" className="num">
              Mean reward
            </th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {items.map((e) => (
            <tr key={String(e.id)} data-testid="eval-row">
              <th scope="row">
                <Link to={`/evals/${encodeURIComponent(String(e.id))}`}>#{String(e.id).slice(0, 8)}</Link>
              </th>
              <td>{e.model}</td>
              <td>{e.version}</td>
              <td>
                <StatusBadge status={e.status} />
              </td>
              <td className="num">{formatReward(e.mean_reward)}</td>
              <td>
                <time dateTime={e.created_at}>{relativeTime(e.created_at, now)}</time>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
