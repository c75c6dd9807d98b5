import { Link } from "react-router-dom";

/** Numbered pages around the current one: 1 … 4 5 [6] 7 8 … 20 */
export function pageWindow(page: number, pages: number, radius = 2): (number | "gap")[] {
  const out: (number | "gap")[] = [];
  for (let p = 1; p <= pages; p++) {
    if (p === 1 || p === pages || Math.abs(p - page) <= radius) out.push(p);
    else if (out[out.length - 1] !== "gap") out.push("gap");
  }
  return out;
}

export function Pager({ page, total, perPage, hrefFor, label = "Pagination" }: { page: number; total: number; perPage: number; hrefFor: (page: number) => string; label?: string }) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (pages <= 1) return null;
  return (
    <nav className="pager" aria-label={label}>
      {page > 1 ? (
        <Link to={hrefFor(page - 1)} rel="prev" className="btn btn-small">
          ← Previous
        </Link>
      ) : (
        <span className="btn btn-small is-disabled" aria-disabled="true">
          ← Previous
        </span>
      )}
      <ol className="pager-pages">
        {pageWindow(page, pages).map((p, i) =>
          p === "gap" ? (
            <li key={`gap-${i}`} aria-hidden="true">
              …
            </li>
          ) : (
            <li key={p}>
              <Link to={hrefFor(p)} aria-current={p === page ? "page" : undefined} aria-label={`Page ${p}`}>
                {p}
              </Link>
            </li>
          ),
        )}
      </ol>
      <span className="sr-only">
        Page {page} of {pages}
      </span>
      {page < pages ? (
        <Link to={hrefFor(page + 1)} rel="next" className="btn btn-small">
          Next →
        </Link>
      ) : (
        <span className="btn btn-small is-disabled" aria-disabled="true">
          Next →
        </span>
      )}
    </nav>
  );
}
