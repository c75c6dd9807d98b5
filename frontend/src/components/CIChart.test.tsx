import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { lbRow } from "../test/fixtures";
import { CIChart, chartDomain } from "./CIChart";

describe("<CIChart>", () => {
  const rows = [lbRow("a/one", 0.8, 0.7, 0.9, 1, 1), lbRow("b/two", 0.5, 0.35, 0.62, 2, 3), lbRow("c/three", 0.45, 0.3, 0.6, 2, 3), lbRow("d/four", 0.1, 0.0, 0.2, 4, 4)];

  it("draws one error bar per model", () => {
    render(<CIChart rows={rows} />);
    const bars = screen.getAllByTestId("ci-bar");
    expect(bars).toHaveLength(rows.length);
    expect(bars.map((b) => b.getAttribute("data-model"))).toEqual(rows.map((r) => r.model));
    for (const bar of bars) {
      expect(bar.querySelectorAll('[data-testid="ci-whisker"]')).toHaveLength(1);
      expect(bar.querySelectorAll('[data-testid="ci-mean"]')).toHaveLength(1);
    }
  });

  it("places the mean inside its interval, and better models further right", () => {
    render(<CIChart rows={rows} />);
    const xs = screen.getAllByTestId("ci-bar").map((bar) => {
      const w = bar.querySelector('[data-testid="ci-whisker"]')!;
      const m = bar.querySelector('[data-testid="ci-mean"]')!;
      return { lo: Number(w.getAttribute("x1")), hi: Number(w.getAttribute("x2")), mean: Number(m.getAttribute("cx")) };
    });
    for (const x of xs) {
      expect(x.lo).toBeLessThanOrEqual(x.mean);
      expect(x.mean).toBeLessThanOrEqual(x.hi);
    }
    expect(xs[0].mean).toBeGreaterThan(xs[1].mean);
    expect(xs[1].mean).toBeGreaterThan(xs[3].mean);
  });

  it("has an accessible name", () => {
    render(<CIChart rows={rows} />);
    expect(screen.getByRole("img", { name: /mean reward with confidence intervals for 4 models/i })).toBeTruthy();
  });

  it("uses [0, 1] for rewards and widens for other ranges", () => {
    expect(chartDomain(rows)).toEqual([0, 1]);
    const [lo, hi] = chartDomain([{ mean_reward: 3, ci_low: -1, ci_high: 5 }]);
    expect(lo).toBeLessThan(-1);
    expect(hi).toBeGreaterThan(5);
  });
});
