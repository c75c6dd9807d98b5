import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { listEnvironments } from "../api/environments";
import type { Runtime, SortKey } from "../api/types";
import { EnvironmentList } from "../components/EnvironmentList";
import { Empty, ErrorMessage, Loading } from "../components/Feedback";
import { Pager } from "../components/Pager";
import { catalogHref, catalogSearch, effectiveSort, parseCatalogParams, PER_PAGE, RUNTIMES, SORTS, toApiQuery, type CatalogFilters } from "../lib/catalogQuery";
import { formatNumber } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { useTitle } from "../lib/useTitle";

const SEARCH_DEBOUNCE_MS = 300;

export default function CatalogPage() {
  const [params, setParams] = useSearchParams();
  const filters = parseCatalogParams(params);
  const key = catalogSearch(filters);
  useTitle(filters.q ? `“${filters.q}” · Environments` : "Environments");

  // text fields are edited locally, then pushed into the URL (debounced, or on Enter)
  const [q, setQ] = useState(filters.q);
  const [owner, setOwner] = useState(filters.owner);
  useEffect(() => setQ(filters.q), [filters.q]);
  useEffect(() => setOwner(filters.owner), [filters.owner]);

  const result = useAsync(() => listEnvironments(toApiQuery(filters)), [key]);

  const apply = (patch: Partial<CatalogFilters>, replace = false) => {
    const next = { ...filters, page: 1, ...patch };
    setParams(new URLSearchParams(catalogSearch(next)), { replace });
  };

  const debounce = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (debounce.current) clearTimeout(debounce.current);
  }, []);
  function onQueryChange(value: string) {
    setQ(value);
    if (debounce.current) clearTimeout(debounce.current);
    debounce.current = setTimeout(() => {
      if (value.trim() !== filters.q) apply({ q: value }, true);
    }, SEARCH_DEBOUNCE_MS);
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (debounce.current) clearTimeout(debounce.current);
    apply({ q, owner });
  }

  const data = result.data;
  const sortLabel = SORTS.find((s) => s.value === (effectiveSort(filters) ?? ""))?.label;

  return (
    <div className="catalog">
      <h1>Environments</h1>
      <form role="search" className="filters" onSubmit={onSubmit} aria-label="Search and filter environments">
        <div className="field field-grow">
          <label htmlFor="catalog-q">Search</label>
          <input id="catalog-q" type="search" name="q" value={q} onChange={(e) => onQueryChange(e.target.value)} placeholder="Name, description, tags…" data-testid="search-input" autoComplete="off" />
        </div>
        <div className="field">
          <label htmlFor="catalog-owner">Owner</label>
          <input
            id="catalog-owner"
            type="text"
            name="owner"
            value={owner}
            onChange={(e) => setOwner(e.target.value)}
            onBlur={() => owner.trim() !== filters.owner && apply({ owner })}
            placeholder="user or org"
            data-testid="filter-owner"
            autoComplete="off"
          />
        </div>
        <div className="field">
          <label htmlFor="catalog-runtime">Runtime</label>
          <select id="catalog-runtime" value={filters.runtime} onChange={(e) => apply({ runtime: e.target.value as Runtime | "" })} data-testid="filter-runtime">
            {RUNTIMES.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="catalog-sort">Sort</label>
          <select id="catalog-sort" value={filters.sort} onChange={(e) => apply({ sort: e.target.value as SortKey | "" })} data-testid="filter-sort">
            {SORTS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.value === "" && !filters.q ? "Default (most downloads)" : s.label}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="btn btn-primary filters-submit">
          Search
        </button>
      </form>

      {filters.tags.length > 0 && (
        <div className="active-tags" aria-label="Tag filters">
          <span className="muted">Tags:</span>
          <ul className="tags">
            {filters.tags.map((t) => (
              <li key={t}>
                <Link className="tag tag-active" to={catalogHref({ ...filters, page: 1, tags: filters.tags.filter((x) => x !== t) })} aria-label={`Remove tag filter ${t}`} data-testid="active-tag">
                  {t} <span aria-hidden="true">×</span>
                </Link>
              </li>
            ))}
          </ul>
        </div>
      )}

      <div className="results" aria-busy={result.loading} aria-live="polite">
        {result.error ? (
          <ErrorMessage error={result.error} onRetry={result.reload} />
        ) : !data ? (
          <Loading label="Searching…" />
        ) : (
          <>
            <p className="result-count" data-testid="result-count">
              {formatNumber(data.total)} environment{data.total === 1 ? "" : "s"}
              {filters.q && (
                <>
                  {" "}
                  matching <strong>“{filters.q}”</strong>
                </>
              )}
              {sortLabel && <span className="muted"> · sorted by {sortLabel.toLowerCase()}</span>}
            </p>
            {data.items.length === 0 ? (
              <Empty>
                No environments match. <Link to="/environments">Clear all filters</Link>
              </Empty>
            ) : (
              <EnvironmentList items={data.items} label="Search results" />
            )}
            <Pager page={filters.page} total={data.total} perPage={data.per_page || PER_PAGE} hrefFor={(page) => catalogHref({ ...filters, page })} />
          </>
        )}
      </div>
    </div>
  );
}
