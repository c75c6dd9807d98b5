/** Leaderboards: read models over evaluation summaries. */
import { api, unwrap } from "./client";
import type { LeaderboardRow, LeaderboardRowOut } from "./types";

/** The hub only ranks runs that have a mean; an interval it could not compute is the mean. */
export function toLeaderboardRow(row: LeaderboardRowOut): LeaderboardRow | null {
  if (row.mean_reward === null || row.mean_reward === undefined) return null;
  const mean = row.mean_reward;
  return { ...row, mean_reward: mean, ci_low: row.ci_low ?? mean, ci_high: row.ci_high ?? mean };
}

export async function getLeaderboard(owner: string, name: string, version?: string): Promise<LeaderboardRow[]> {
  const data = await unwrap(
    api.GET("/api/v1/environments/{owner}/{name}/leaderboard", {
      params: { path: { owner, name }, query: version ? { version } : {} },
    }),
  );
  return data.rows.map(toLeaderboardRow).filter((r): r is LeaderboardRow => r !== null);
}
