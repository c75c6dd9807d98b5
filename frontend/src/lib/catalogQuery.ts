/**
 * The catalog's filters <-> its URL (`/environments?q=&tag=&owner=&runtime=&sort=&page=`)
 * <-> the API query. The URL is the source of truth so searches are shareable.
 */
import type { EnvironmentQuery } from "../api/environments";
import type { Runtime, SortKey } from "../api/types";

export const PER_PAGE = 50;

export const SORTS: { value: SortKey | ""; label: string }[] = [
  { value: "", label: "Best match" },
  { value: "downloads", label: "Most downloads" },
  { value: "stars", label: "Most stars" },
  { value: "updated", label: "Recently updated" },
  { value: "created", label: "Newest" },
  { value: "name", label: "Name" },
];

export const RUNTIMES: { value: Runtime | ""; label: string }[] = [
  { value: "", label: "Any runtime" },
  // The hub's line (hub/registry/runtime.py): 0.1.x is the v0 API, 0.2 and later the v1 API.
  { value: "v1", label: "v1 (verifiers ≥ 0.2)" },
  { value: "v0", label: "v0 (verifiers 0.1.x)" },
  { value: "unknown", label: "Unknown" },
];

export interface CatalogFilters {
  q: string;
  tags: string[];
  owner: string;
  runtime: Runtime | "";
  sort: SortKey | "";
  page: number;
}

export const EMPTY_FILTERS: CatalogFilters = { q: "", tags: [], owner: "", runtime: "", sort: "", page: 1 };

const RUNTIME_VALUES = new Set<string>(["v0", "v1", "unknown"]);
const SORT_VALUES = new Set<string>(["name", "updated", "created", "downloads", "stars"]);

export function parseCatalogParams(params: URLSearchParams): CatalogFilters {
  const runtime = params.get("runtime") ?? "";
  const sort = params.get("sort") ?? "";
  const page = Number.parseInt(params.get("page") ?? "1", 10);
  const tags = params
    .getAll("tag")
    .map((t) => t.trim())
    .filter(Boolean);
  return {
    q: (params.get("q") ?? "").trim(),
    tags: [...new Set(tags)],
    owner: (params.get("owner") ?? "").trim(),
    runtime: RUNTIME_VALUES.has(runtime) ? (runtime as Runtime) : "",
    sort: SORT_VALUES.has(sort) ? (sort as SortKey) : "",
    page: Number.isFinite(page) && page > 0 ? page : 1,
  };
}

/** The catalog URL's query string for `filters` (defaults omitted), with a leading "?" or "". */
export function catalogSearch(filters: Partial<CatalogFilters>): string {
  const f = { ...EMPTY_FILTERS, ...filters };
  const params = new URLSearchParams();
  if (f.q.trim()) params.set("q", f.q.trim());
  for (const tag of f.tags) params.append("tag", tag);
  if (f.owner.trim()) params.set("owner", f.owner.trim());
  if (f.runtime) params.set("runtime", f.runtime);
  if (f.sort) params.set("sort", f.sort);
  if (f.page > 1) params.set("page", String(f.page));
  const s = params.toString();
  return s ? `?${s}` : "";
}

export function catalogHref(filters: Partial<CatalogFilters>): string {
  return `/environments${catalogSearch(filters)}`;
}

/** Sort actually requested: relevance (no sort) with a search text, else most downloaded. */
export function effectiveSort(f: CatalogFilters): SortKey | undefined {
  if (f.sort) return f.sort;
  return f.q ? undefined : "downloads";
}

export function toApiQuery(f: CatalogFilters, perPage = PER_PAGE): EnvironmentQuery {
  const sort = effectiveSort(f);
  return {
    q: f.q || undefined,
    tag: f.tags.length ? f.tags : undefined,
    owner: f.owner || undefined,
    runtime: f.runtime || undefined,
    sort,
    order: sort ? (sort === "name" ? "asc" : "desc") : undefined,
    page: f.page,
    per_page: perPage,
  };
}
