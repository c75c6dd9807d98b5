import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { evalLog, evalRun, sample } from "../test/fixtures";
import { mockApi, problem } from "../test/mockApi";
import { renderApp } from "../test/render";

function routes(run = evalRun) {
  return {
    "GET /api/v1/evals/{id}": run,
    "GET /api/v1/evals/{id}/logs": evalLog,
    "GET /api/v1/evals/{id}/samples": ({ url }: { url: URL }) => {
      const filter = url.searchParams.get("filter");
      if (filter !== null && filter !== "failed" && filter !== "low_reward") return problem(422, "validation-error");
      const all = Array.from({ length: 10 }, (_, i) => sample(i, i === 4 ? { error: "timeout", reward: null } : {}));
      const items = filter === "failed" ? all.filter((s) => s.error) : filter === "low_reward" ? all.filter((s) => (s.reward ?? 0) < 0.5) : all;
      return { items, total: items.length, page: 1, per_page: 20 };
    },
  };
}

describe("evaluation page", () => {
  it("shows spec, status, metrics, log and samples", async () => {
    mockApi(routes());
    renderApp(`/evals/${evalRun.id}`);
    const status = await screen.findByTestId("eval-status");
    expect(status.getAttribute("data-status")).toBe("succeeded");
    expect(within(screen.getByTestId("eval-spec")).getByText("local/smollm2-135m")).toBeTruthy();
    const metrics = within(screen.getByTestId("eval-metrics"));
    expect(metrics.getAllByText("0.400")).toHaveLength(2); // mean_reward and the per-metric mean
    expect(metrics.getByText("pass_at_k")).toBeTruthy();
    expect(metrics.getByText("correct_answer")).toBeTruthy();
    expect(screen.getByTestId("eval-log").textContent).toBe("starting\ndone");
    const rows = await screen.findAllByTestId("sample-row");
    expect(rows).toHaveLength(10);
    expect(within(rows[1]).getByText("What is 1 + 1?")).toBeTruthy();
  });

  it("filters samples to failed ones through the URL", async () => {
    const api = mockApi(routes());
    renderApp(`/evals/${evalRun.id}`);
    await screen.findAllByTestId("sample-row");
    fireEvent.change(screen.getByTestId("sample-filter"), { target: { value: "failed" } });
    await waitFor(() => expect(screen.getAllByTestId("sample-row")).toHaveLength(1));
    expect(screen.getByTestId("location").textContent).toBe(`/evals/${evalRun.id}?filter=failed`);
    const last = api.calls.filter((c) => c.url.pathname.endsWith("/samples")).pop()!;
    expect(last.url.searchParams.get("filter")).toBe("failed");
  });

  it("shows progress for a running evaluation", async () => {
    const aggregates = { ...evalRun.aggregates, n_samples: 0, mean_reward: null, ci_low: null, ci_high: null, metrics: {} };
    mockApi(routes({ ...evalRun, status: "running", progress_done: 3, progress_total: 10, completed_at: null, aggregates, job: { ...evalRun.job!, state: "running", finished_at: null } }));
    renderApp(`/evals/${evalRun.id}`);
    const status = await screen.findByTestId("eval-status");
    expect(status.textContent).toBe("Running");
    const progress = screen.getByTestId("eval-progress") as HTMLProgressElement;
    expect(progress.value).toBe(3);
    expect(progress.max).toBe(10);
    expect(screen.getByText("Metrics appear when the run finishes.")).toBeTruthy();
  });

  it("shows the spec from the hub's stored request and the error of a failed run", async () => {
    mockApi(routes({ ...evalRun, status: "failed", error_code: "all-rollouts-failed", error_message: "Every rollout failed: timeout" }));
    renderApp(`/evals/${evalRun.id}`);
    expect((await screen.findByTestId("eval-error")).textContent).toBe("Every rollout failed: timeout (all-rollouts-failed)");
    const spec = screen.getByTestId("eval-spec").textContent ?? "";
    expect(spec).toContain("Examples5");
    expect(spec).toContain("Rollouts / example2");
    expect(spec).toContain("Temperature0.7");
    expect(spec).toContain("Max tokens256");
  });
});
