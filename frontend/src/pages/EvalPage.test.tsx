import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { evalRun, sample } from "../test/fixtures";
import { mockApi } from "../test/mockApi";
import { renderApp } from "../test/render";

function routes(run = evalRun) {
  return {
    "GET /api/v1/evals/{id}": run,
    "GET /api/v1/evals/{id}/samples": ({ url }: { url: URL }) => {
      const filter = url.searchParams.get("filter") ?? "all";
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
    expect(within(screen.getByTestId("eval-metrics")).getByText("0.400")).toBeTruthy();
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
    mockApi(routes({ ...evalRun, status: "running", progress: { completed: 3, total: 10 }, metrics: null, finished_at: null }));
    renderApp(`/evals/${evalRun.id}`);
    const status = await screen.findByTestId("eval-status");
    expect(status.textContent).toBe("Running");
    const progress = screen.getByTestId("eval-progress") as HTMLProgressElement;
    expect(progress.value).toBe(3);
    expect(progress.max).toBe(10);
  });
});
