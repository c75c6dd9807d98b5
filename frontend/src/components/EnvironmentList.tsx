import { memo, useMemo } from "react";
import { Link } from "react-router-dom";
import type { Environment } from "../api/types";
import { catalogHref } from "../lib/catalogQuery";
import { formatCompact, relativeTime } from "../lib/format";

export const EnvironmentRow = memo(function EnvironmentRow({ env, now }: { env: Environment; now: number }) {
  return (
    <li className="env-row" data-testid="env-row" data-name={env.full_name}>
      <div className="env-row-main">
        <h3 className="env-row-title">
          <Link to={`/${encodeURIComponent(env.owner)}/${encodeURIComponent(env.name)}`}>
            <span className="muted">{env.owner}/</span>
            {env.name}
          </Link>
          {env.visibility === "private" && <span className="badge badge-muted">private</span>}
        </h3>
        {env.description && <p className="env-row-desc">{env.description}</p>}
        {env.tags.length > 0 && (
          <ul className="tags" aria-label="Tags">
            {env.tags.slice(0, 8).map((t) => (
              <li key={t}>
                <Link className="tag" to={catalogHref({ tags: [t] })}>
                  {t}
                </Link>
              </li>
            ))}
          </ul>
        )}
      </div>
      <dl className="env-row-meta">
        <div>
          <dt>Runtime</dt>
          <dd>
            <span className={`badge runtime-${env.runtime}`}>{env.runtime}</span>
          </dd>
        </div>
        {env.latest_version && (
          <div>
            <dt>Version</dt>
            <dd>{env.latest_version}</dd>
          </div>
        )}
        <div>
          <dt>Downloads</dt>
          <dd>
            <span aria-hidden="true">⬇</span> {formatCompact(env.downloads)}
          </dd>
        </div>
        <div>
          <dt>Stars</dt>
          <dd>
            <span aria-hidden="true">★</span> {formatCompact(env.stars)}
          </dd>
        </div>
        <div>
          <dt>Updated</dt>
          <dd>
            <time dateTime={env.updated_at}>{relativeTime(env.updated_at, now)}</time>
          </dd>
        </div>
      </dl>
    </li>
  );
});

export function EnvironmentList({ items, label = "Environments" }: { items: Environment[]; label?: string }) {
  // one clock per list (not per render) so memoized rows skip re-rendering
  const now = useMemo(() => Date.now(), [items]);
  return (
    <ul className="env-list" aria-label={label} data-testid="env-list">
      {items.map((env) => (
        <EnvironmentRow key={env.full_name} env={env} now={now} />
      ))}
    </ul>
  );
}
