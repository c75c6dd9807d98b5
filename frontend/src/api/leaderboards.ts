/** Leaderboards: read models over evaluation summaries. */
import { api, unwrap } from "./client";
import type { LeaderboardRow } from "./types";

export async function getLeaderboard(owner: string, name: string, version?: string): Promise<LeaderboardRow[]> {
  const data = await unwrap(
    api.GET("/api/v1/environments/{owner}/{name}/leaderboard", {
      params: { path: { owner, name }, query: version ? { version } : {} },
    }),
  );
  return data.rows;
}
