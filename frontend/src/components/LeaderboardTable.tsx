import { Link } from "react-router-dom";
import type { LeaderboardRow } from "../api/types";
import { formatDate, formatNumber, formatPercent, formatReward, rankRange, shortHash } from "../lib/format";

function passAtK(p: LeaderboardRow["pass_at_k"]): string {
  return p === null || p === undefined ? "—" : formatReward(p, 2);
}

export function sortLeaderboard(rows: LeaderboardRow[]): LeaderboardRow[] {
  return [...rows].sort((a, b) => a.rank_low - b.rank_low || b.mean_reward - a.mean_reward || a.model.localeCompare(b.model));
}

/** The leaderboard of one environment. Ranks are ranges where intervals overlap ("1–2"). */
export function LeaderboardTable({ rows, owner, name }: { rows: LeaderboardRow[]; owner: string; name: string }) {
  const hasPass = rows.some((r) => typeof r.pass_at_k === "number");
  const hasTokens = rows.some((r) => r.mean_tokens !== null && r.mean_tokens !== undefined);
  const hasCost = rows.some((r) => r.cost !== null && r.cost !== undefined);
  return (
    <div className="table-wrap" role="region" aria-label="Leaderboard" tabIndex={0}>
      <table className="table leaderboard" data-testid="leaderboard-table">
        <thead>
          <tr>
            <th scope="col">Rank</th>
            <th scope="col">Model</th>
            <th scope="col" className="num">
              Mean reward
            </th>
            <th scope="col" className="num">
              95% CI
            </th>
            <th scope="col" className="num">
              Examples × rollouts
            </th>
            {hasPass && <th scope="col">pass@k</th>}
            {hasTokens && (
              <th scope="col" className="num">
                Mean tokens
              </th>
            )}
            {hasCost && (
              <th scope="col" className="num">
                Cost
              </th>
            )}
            <th scope="col" className="num">
              Errors
            </th>
            <th scope="col">Version</th>
            <th scope="col">Date</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={`${r.model}-${r.version}-${i}`} data-testid="leaderboard-row">
              <td className="rank" data-testid="leaderboard-rank">
                {rankRange(r.rank_low, r.rank_high)}
              </td>
              <th scope="row" className="model">
                {r.evaluation_id ? <Link to={`/evals/${encodeURIComponent(String(r.evaluation_id))}`}>{r.model}</Link> : r.model}{" "}
                {r.verified ? (
                  <span className="badge badge-ok" title="Run by the hub (hosted evaluation)">
                    verified
                  </span>
                ) : (
                  <span className="badge badge-muted" title="Self-reported result">
                    self-reported
                  </span>
                )}
              </th>
              <td className="num">{formatReward(r.mean_reward)}</td>
              <td className="num">
                {formatReward(r.ci_low)}–{formatReward(r.ci_high)}
              </td>
              <td className="num">
                {formatNumber(r.n_examples)} × {r.rollouts_per_example}
              </td>
              {hasPass && <td>{passAtK(r.pass_at_k)}</td>}
              {hasTokens && <td className="num">{r.mean_tokens == null ? "—" : formatNumber(Math.round(r.mean_tokens))}</td>}
              {hasCost && <td className="num">{r.cost == null ? "—" : `$${r.cost.toFixed(r.cost < 1 ? 4 : 2)}`}</td>}
              <td className="num">{formatPercent(r.error_rate)}</td>
              <td>
                <Link to={`/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/v/${encodeURIComponent(r.version)}`}>{r.version}</Link>{" "}
                <code className="hash" title={r.content_hash}>
                  {shortHash(r.content_hash, 8)}
                </code>
              </td>
              <td>{formatDate(r.date)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
