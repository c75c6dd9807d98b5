import { describe, expect, it } from "vitest";
import { catalogHref, catalogSearch, parseCatalogParams, RUNTIMES, toApiQuery } from "./catalogQuery";

describe("catalog query", () => {
  it("round-trips filters through the URL", () => {
    const f = { q: "math word", tags: ["math", "reasoning"], owner: "alice", runtime: "v1" as const, sort: "stars" as const, page: 3 };
    const search = catalogSearch(f);
    expect(search).toBe("?q=math+word&tag=math&tag=reasoning&owner=alice&runtime=v1&sort=stars&page=3");
    expect(parseCatalogParams(new URLSearchParams(search))).toEqual(f);
  });

  it("omits defaults and ignores junk", () => {
    expect(catalogHref({})).toBe("/environments");
    expect(catalogHref({ page: 1, q: "  " })).toBe("/environments");
    expect(parseCatalogParams(new URLSearchParams("runtime=v9&sort=evil&page=-2"))).toMatchObject({ runtime: "", sort: "", page: 1 });
  });

  it("asks the API for relevance when searching, downloads otherwise", () => {
    expect(toApiQuery(parseCatalogParams(new URLSearchParams("q=x")))).toMatchObject({ q: "x", sort: undefined, page: 1, per_page: 50 });
    expect(toApiQuery(parseCatalogParams(new URLSearchParams("")))).toMatchObject({ sort: "downloads", order: "desc" });
    expect(toApiQuery(parseCatalogParams(new URLSearchParams("sort=name")))).toMatchObject({ sort: "name", order: "asc" });
  });
});

describe("runtime labels", () => {
  it("state the hub's verifiers line: v1 is 0.2 and later, v0 is 0.1.x", () => {
    expect(RUNTIMES.find((r) => r.value === "v1")?.label).toBe("v1 (verifiers ≥ 0.2)");
    expect(RUNTIMES.find((r) => r.value === "v0")?.label).toBe("v0 (verifiers 0.1.x)");
  });
});
