import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { environment } from "../test/fixtures";
import { mockApi } from "../test/mockApi";
import { renderApp } from "../test/render";

const TOTAL = 1000;
const catalog = Array.from({ length: TOTAL }, (_, i) => environment(i));

/** A fake server-side paginated catalog of 1,000 environments. */
function fakeCatalog() {
  return mockApi({
    "GET /api/v1/environments": ({ url }: { url: URL }) => {
      const page = Number(url.searchParams.get("page") ?? 1);
      const per = Number(url.searchParams.get("per_page") ?? 20);
      const runtime = url.searchParams.get("runtime");
      const items = catalog.filter((e) => !runtime || e.runtime === runtime);
      return { items: items.slice((page - 1) * per, page * per), total: items.length, page, per_page: per };
    },
  });
}

const location = () => screen.getByTestId("location").textContent;

describe("catalog page", () => {
  it("renders a 50-row page of a 1,000-environment catalog", async () => {
    const api = fakeCatalog();
    renderApp("/environments");
    await waitFor(() => expect(screen.getAllByTestId("env-row")).toHaveLength(50));
    expect(screen.getByTestId("result-count").textContent).toContain("1,000 environments");
    expect(screen.getByRole("link", { name: "Page 20" })).toBeTruthy();
    expect(api.calls).toHaveLength(1);
    expect(api.calls[0].url.searchParams.get("per_page")).toBe("50");
  });

  it("builds its URL (and its API query) from the filters", async () => {
    const api = fakeCatalog();
    renderApp("/environments?tag=math&page=2");
    await waitFor(() => expect(screen.getAllByTestId("env-row").length).toBeGreaterThan(0));
    expect(api.calls[0].url.searchParams.getAll("tag")).toEqual(["math"]);
    expect(api.calls[0].url.searchParams.get("page")).toBe("2");

    fireEvent.change(screen.getByTestId("filter-runtime"), { target: { value: "v1" } });
    await waitFor(() => expect(location()).toBe("/environments?tag=math&runtime=v1"));

    fireEvent.change(screen.getByTestId("filter-sort"), { target: { value: "stars" } });
    await waitFor(() => expect(location()).toBe("/environments?tag=math&runtime=v1&sort=stars"));

    fireEvent.change(screen.getByTestId("search-input"), { target: { value: "gsm8k" } });
    fireEvent.change(screen.getByTestId("filter-owner"), { target: { value: "alice" } });
    await act(async () => {
      fireEvent.submit(screen.getByRole("search"));
    });
    await waitFor(() => expect(location()).toBe("/environments?q=gsm8k&tag=math&owner=alice&runtime=v1&sort=stars"));

    await waitFor(() => {
      const last = api.calls[api.calls.length - 1].url.searchParams;
      expect(Object.fromEntries(last)).toMatchObject({ q: "gsm8k", owner: "alice", runtime: "v1", sort: "stars", order: "desc", page: "1", per_page: "50" });
      expect(last.getAll("tag")).toEqual(["math"]);
    });
  });

  it("pages through results with links that keep the filters", async () => {
    fakeCatalog();
    renderApp("/environments?runtime=v1");
    await waitFor(() => expect(screen.getAllByTestId("env-row")).toHaveLength(50));
    fireEvent.click(screen.getByRole("link", { name: /Next/ }));
    await waitFor(() => expect(location()).toBe("/environments?runtime=v1&page=2"));
    await waitFor(() => expect(screen.getByRole("link", { name: "Page 2" }).getAttribute("aria-current")).toBe("page"));
  });

  it("shows a removable chip per tag filter", async () => {
    fakeCatalog();
    renderApp("/environments?tag=math&tag=tools");
    const chip = await screen.findByRole("link", { name: "Remove tag filter math" });
    expect(chip.getAttribute("href")).toBe("/environments?tag=tools");
  });
});
