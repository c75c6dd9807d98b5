import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { listEnvironments, listTags } from "../api/environments";
import type { Environment, TagCount } from "../api/types";
import { EnvironmentList } from "../components/EnvironmentList";
import { Empty, ErrorMessage, Loading } from "../components/Feedback";
import { catalogHref } from "../lib/catalogQuery";
import { useAsync } from "../lib/useAsync";
import { useTitle } from "../lib/useTitle";

function Section({ title, href, state }: { title: string; href: string; state: { data?: { items: Environment[] }; error: unknown; reload: () => void } }) {
  const id = title.toLowerCase().replace(/\s+/g, "-");
  return (
    <section className="home-section" aria-labelledby={id}>
      <div className="section-head">
        <h2 id={id}>{title}</h2>
        <Link to={href}>View all →</Link>
      </div>
      {state.error ? (
        <ErrorMessage error={state.error} onRetry={state.reload} />
      ) : !state.data ? (
        <Loading />
      ) : state.data.items.length === 0 ? (
        <Empty>No environments yet.</Empty>
      ) : (
        <EnvironmentList items={state.data.items} label={title} />
      )}
    </section>
  );
}

/** Tags: from /tags, or (if the hub has no such endpoint) counted from the lists shown. */
function tagsFrom(lists: (Environment[] | undefined)[]): TagCount[] {
  const counts = new Map<string, number>();
  for (const list of lists) for (const env of list ?? []) for (const t of env.tags) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts.entries()].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
}

export default function HomePage() {
  useTitle(null);
  const navigate = useNavigate();
  const [q, setQ] = useState("");
  const popular = useAsync(() => listEnvironments({ sort: "downloads", order: "desc", per_page: 6 }), []);
  const recent = useAsync(() => listEnvironments({ sort: "updated", order: "desc", per_page: 6 }), []);
  const tags = useAsync(() => listTags(24), []);
  const tagList = tags.data ?? (tags.error ? tagsFrom([popular.data?.items, recent.data?.items]) : undefined);

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    navigate(catalogHref({ q }));
  }

  return (
    <div className="home">
      <section className="hero">
        <h1>Environments for training and evaluating language models</h1>
        <p className="lead">Find, install and compare verifiers environments. Install with pip or uv from this hub's package index, read the source, and run hosted evaluations.</p>
        <form role="search" className="search-form search-form-large" onSubmit={onSubmit}>
          <label htmlFor="home-search" className="sr-only">
            Search environments
          </label>
          <input id="home-search" type="search" name="q" placeholder="Search environments (e.g. math, tool use, wordle)" value={q} onChange={(e) => setQ(e.target.value)} data-testid="search-input" autoComplete="off" />
          <button type="submit" className="btn btn-primary">
            Search
          </button>
        </form>
        {popular.data && (
          <p className="muted small">
            <Link to="/environments">{popular.data.total.toLocaleString("en-US")} environments</Link> in the catalog
          </p>
        )}
      </section>
      {tagList && tagList.length > 0 && (
        <section aria-labelledby="tags-title" className="home-section">
          <h2 id="tags-title">Browse by tag</h2>
          <ul className="tags tags-large" data-testid="tag-chips">
            {tagList.map((t) => (
              <li key={t.name}>
                <Link className="tag" to={catalogHref({ tags: [t.name] })}>
                  {t.name} <span className="tag-count">{t.count}</span>
                </Link>
              </li>
            ))}
          </ul>
        </section>
      )}
      <div className="home-columns">
        <Section title="Popular" href={catalogHref({ sort: "downloads" })} state={popular} />
        <Section title="Recently updated" href={catalogHref({ sort: "updated" })} state={recent} />
      </div>
    </div>
  );
}
