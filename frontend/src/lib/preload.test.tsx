/**
 * The hub preloads the first API calls of the home page and the catalog
 * (`<link rel="preload" as="fetch">`, hub/web/preload.py). A preload is only used when the
 * page requests exactly the same URL, so the real pages must request what
 * preloadCases.json says; tests/web/test_spa_prefetch.py holds the hub to the same file.
 */
import { waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { mockApi } from "../test/mockApi";
import { renderApp } from "../test/render";
import cases from "./preloadCases.json";

const PRELOADED = new Set(["/api/v1/environments", "/api/v1/tags"]);

/** What the browser makes of an href: the URL parser normalizes the query the same way for both. */
function normalized(href: string): string {
  const url = new URL(href, window.location.origin);
  return url.pathname + url.search;
}

describe("first-render API calls match the hub's preloads", () => {
  for (const { page, preload } of cases.cases.filter((c) => c.preload.length > 0)) {
    it(page, async () => {
      const api = mockApi({
        "GET /api/v1/environments": { items: [], total: 0, page: 1, per_page: 50 },
        "GET /api/v1/tags": [],
      });
      renderApp(page);
      const expected = preload.map(normalized).sort();
      const requested = () => api.calls.filter((c) => c.method === "GET" && PRELOADED.has(c.url.pathname)).map((c) => normalized(c.url.href));
      await waitFor(() => expect(requested().length).toBeGreaterThanOrEqual(expected.length));
      expect(requested().sort()).toEqual(expected);
      for (const call of api.calls) expect(call.url.origin).toBe(window.location.origin);
    });
  }
});
