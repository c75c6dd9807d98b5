import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { lbRow } from "../test/fixtures";
import { renderWithRouter } from "../test/render";
import { rankRange } from "../lib/format";
import { LeaderboardTable, sortLeaderboard } from "./LeaderboardTable";

describe("rankRange", () => {
  it("shows a single rank or an en-dash range", () => {
    expect(rankRange(3, 3)).toBe("3");
    expect(rankRange(1, 2)).toBe("1–2");
    expect(rankRange(4, 2)).toBe("2–4");
  });
});

describe("<LeaderboardTable>", () => {
  const rows = sortLeaderboard([
    lbRow("local/smollm2", 0.31, 0.2, 0.42, 3, 3),
    lbRow("openai/gpt-x", 0.82, 0.78, 0.86, 1, 2),
    lbRow("vllm/qwen", 0.8, 0.75, 0.85, 1, 2),
  ]);

  it("renders one row per model with rank ranges for ties", () => {
    renderWithRouter(<LeaderboardTable rows={rows} owner="alice" name="gsm8k" />);
    const trs = screen.getAllByTestId("leaderboard-row");
    expect(trs).toHaveLength(3);
    expect(trs.map((tr) => within(tr).getByTestId("leaderboard-rank").textContent)).toEqual(["1–2", "1–2", "3"]);
    expect(within(trs[0]).getByRole("rowheader").textContent).toContain("openai/gpt-x");
    expect(within(trs[2]).getByText("0.310")).toBeTruthy();
    expect(within(trs[2]).getByText("0.200–0.420")).toBeTruthy();
  });

  it("links each row to the version it was measured on and to its evaluation", () => {
    renderWithRouter(<LeaderboardTable rows={rows} owner="alice" name="gsm8k" />);
    const row = screen.getAllByTestId("leaderboard-row")[0];
    const link = within(row).getByRole("link", { name: "0.2.0" });
    expect(link.getAttribute("href")).toBe("/alice/gsm8k/v/0.2.0");
    expect(within(row).getByRole("link", { name: "openai/gpt-x" }).getAttribute("href")).toBe("/evals/ev-openai-gpt-x");
  });

  it("shows optional columns only when some row has them", () => {
    const withPass = [{ ...rows[0], pass_at_k: 0.75, mean_tokens: 321.4, cost: 0.0123 }, rows[1]];
    renderWithRouter(<LeaderboardTable rows={withPass} owner="alice" name="gsm8k" />);
    expect(screen.getByRole("columnheader", { name: "pass@k" })).toBeTruthy();
    expect(screen.getByText("0.75")).toBeTruthy();
    expect(screen.getByText("321")).toBeTruthy();
  });
});
