import { Link, useParams, useSearchParams } from "react-router-dom";
import { isNotFound } from "../api/client";
import { getDownloads, getEnvironment, getVersion, listVersions } from "../api/environments";
import { listEvals } from "../api/evals";
import { getLeaderboard } from "../api/leaderboards";
import { CIChart } from "../components/CIChart";
import { DownloadsChart } from "../components/DownloadsChart";
import { Empty, ErrorMessage, Loading, NotFound } from "../components/Feedback";
import { InstallSnippets } from "../components/InstallSnippets";
import { LazyMarkdown } from "../components/Lazy";
import { LeaderboardTable, sortLeaderboard } from "../components/LeaderboardTable";
import { RecentEvals } from "../components/RecentEvals";
import { RunEvalForm } from "../components/RunEvalForm";
import { SourceBrowser } from "../components/SourceBrowser";
import { StarButton } from "../components/StarButton";
import { TabPanel, Tabs } from "../components/Tabs";
import { VersionsTable } from "../components/VersionsTable";
import { catalogHref } from "../lib/catalogQuery";
import { formatDate, shortHash } from "../lib/format";
import { useSession } from "../lib/session";
import { useAsync } from "../lib/useAsync";
import { useTitle } from "../lib/useTitle";

const TABS = ["readme", "files", "versions", "leaderboard", "evals"] as const;
type Tab = (typeof TABS)[number];

function LeaderboardPanel({ owner, name }: { owner: string; name: string }) {
  const board = useAsync(() => getLeaderboard(owner, name), [owner, name]);
  if (board.error) return <ErrorMessage error={board.error} onRetry={board.reload} />;
  if (!board.data) return <Loading />;
  if (board.data.length === 0) return <Empty>No results yet. Run an evaluation to put a model on the board.</Empty>;
  const rows = sortLeaderboard(board.data);
  return (
    <section aria-label="Leaderboard">
      <CIChart rows={rows} />
      <LeaderboardTable rows={rows} owner={owner} name={name} />
    </section>
  );
}

function EvalsPanel({ owner, name, version, versions }: { owner: string; name: string; version: string; versions: Parameters<typeof RunEvalForm>[0]["versions"] }) {
  const { user } = useSession();
  const fullName = `${owner}/${name}`;
  const evals = useAsync(() => listEvals({ environment: fullName, per_page: 10 }), [fullName]);
  return (
    <div className="evals-panel">
      {user ? (
        <RunEvalForm environment={fullName} versions={versions} defaultVersion={version} />
      ) : (
        <p className="alert alert-info">
          <Link to={`/login?next=${encodeURIComponent(`/${owner}/${name}?tab=evals`)}`}>Sign in</Link> to run a hosted evaluation.
        </p>
      )}
      <h3>Recent evaluations</h3>
      {evals.error ? <ErrorMessage error={evals.error} onRetry={evals.reload} /> : !evals.data ? <Loading /> : <RecentEvals items={evals.data.items} />}
    </div>
  );
}

export default function EnvironmentPage() {
  const { owner = "", name = "", version: pinned } = useParams();
  const [params, setParams] = useSearchParams();
  const tab: Tab = (TABS as readonly string[]).includes(params.get("tab") ?? "") ? (params.get("tab") as Tab) : "readme";
  const path = params.get("path") ?? undefined;

  const env = useAsync(() => getEnvironment(owner, name), [owner, name]);
  const hasVersions = env.data ? env.data.latest_version !== null || !!pinned : true;
  const version = useAsync(() => (hasVersions ? getVersion(owner, name, pinned ?? "latest") : Promise.resolve(null)), [owner, name, pinned, hasVersions]);
  const versions = useAsync(() => listVersions(owner, name), [owner, name]);
  const downloads = useAsync(() => getDownloads(owner, name, 30), [owner, name]);
  useTitle(`${owner}/${name}${pinned ? `@${pinned}` : ""}`);

  if (isNotFound(env.error)) return <NotFound what={`The environment ${owner}/${name}`} />;
  if (pinned && isNotFound(version.error)) return <NotFound what={`Version ${pinned} of ${owner}/${name}`} />;
  if (env.error) return <ErrorMessage error={env.error} onRetry={env.reload} />;
  if (!env.data) return <Loading />;

  const e = env.data;
  const v = version.data ?? null;
  const shownVersion = v?.version ?? pinned ?? e.latest_version ?? "latest";
  const base = `/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`;
  const tags = v?.tags?.length ? v.tags : e.tags;

  const selectTab = (id: string) => {
    const next = new URLSearchParams(params);
    if (id === "readme") next.delete("tab");
    else next.set("tab", id);
    if (id !== "files") next.delete("path");
    setParams(next, { replace: true });
  };

  return (
    <article className="env-page" aria-labelledby="env-title">
      <header className="env-header">
        <div className="env-title-row">
          <h1 id="env-title" data-testid="env-title">
            <Link to={`/${encodeURIComponent(e.owner)}`} className="muted">
              {e.owner}
            </Link>
            <span className="muted"> / </span>
            {e.name}
          </h1>
          <StarButton key={`${e.full_name}-${e.starred}`} env={e} />
        </div>
        <p className="env-badges">
          <span className="badge" data-testid="env-version">
            {pinned ? `v${shownVersion} (pinned)` : e.latest_version ? `v${shownVersion}` : "no versions"}
          </span>
          <span className={`badge runtime-${v?.runtime ?? e.runtime}`} title="verifiers API generation">
            runtime {v?.runtime ?? e.runtime}
          </span>
          {e.visibility === "private" && <span className="badge badge-muted">private</span>}
          {pinned && (
            <Link to={base} className="small">
              View latest
            </Link>
          )}
        </p>
        {(v?.description ?? e.description) && <p className="env-desc">{v?.description ?? e.description}</p>}
        {tags.length > 0 && (
          <ul className="tags" aria-label="Tags">
            {tags.map((t) => (
              <li key={t}>
                <Link className="tag" to={catalogHref({ tags: [t] })}>
                  {t}
                </Link>
              </li>
            ))}
          </ul>
        )}
        {v?.yanked && (
          <p className="alert alert-warn" role="note" data-testid="yanked-banner">
            <strong>This version was yanked.</strong> {v.yanked_reason ?? ""} Installers skip it unless it is pinned exactly.
          </p>
        )}
      </header>

      <div className={`env-layout${tab === "readme" ? "" : " env-layout-wide"}`}>
        <div className="env-main">
          <Tabs
            label="Environment sections"
            idPrefix="env"
            selected={tab}
            onSelect={selectTab}
            tabs={[
              { id: "readme", label: "README" },
              { id: "files", label: "Files" },
              { id: "versions", label: `Versions${versions.data ? ` (${versions.data.length})` : ""}` },
              { id: "leaderboard", label: "Leaderboard" },
              { id: "evals", label: "Evaluations" },
            ]}
          />
          <TabPanel id={tab} idPrefix="env">
            {tab === "readme" &&
              (version.error ? (
                <ErrorMessage error={version.error} onRetry={version.reload} />
              ) : !hasVersions ? (
                <Empty>Nothing has been published yet.</Empty>
              ) : !v ? (
                <Loading />
              ) : v.readme ? (
                <LazyMarkdown source={v.readme} testId="readme" />
              ) : (
                <Empty>This version has no README.</Empty>
              ))}
            {tab === "files" && (hasVersions ? <SourceBrowser owner={owner} name={name} version={shownVersion} path={path} /> : <Empty>Nothing has been published yet.</Empty>)}
            {tab === "versions" &&
              (versions.error ? (
                <ErrorMessage error={versions.error} onRetry={versions.reload} />
              ) : !versions.data ? (
                <Loading />
              ) : versions.data.length === 0 ? (
                <Empty>Nothing has been published yet.</Empty>
              ) : (
                <VersionsTable owner={owner} name={name} versions={versions.data} current={v?.version} />
              ))}
            {tab === "leaderboard" && <LeaderboardPanel owner={owner} name={name} />}
            {tab === "evals" && <EvalsPanel owner={owner} name={name} version={shownVersion} versions={versions.data ?? []} />}
          </TabPanel>
        </div>

        <aside className="env-side" aria-label="About this environment">
          {v && <InstallSnippets install={v.install} />}
          <section className="card" aria-labelledby="downloads-title">
            <h2 id="downloads-title" className="card-title">
              Downloads
            </h2>
            {downloads.error ? <p className="muted small">Not available.</p> : !downloads.data ? <Loading /> : <DownloadsChart data={downloads.data} days={30} />}
            <p className="small muted">{e.downloads.toLocaleString("en-US")} all time</p>
          </section>
          <section className="card" aria-labelledby="about-title">
            <h2 id="about-title" className="card-title">
              About
            </h2>
            <dl className="facts">
              <dt>Owner</dt>
              <dd>
                <Link to={`/${encodeURIComponent(e.owner)}`}>{e.owner}</Link>
              </dd>
              <dt>License</dt>
              <dd data-testid="env-license">{v?.license || "—"}</dd>
              <dt>Runtime</dt>
              <dd>{v?.runtime ?? e.runtime}</dd>
              {v?.requires_python && (
                <>
                  <dt>Python</dt>
                  <dd>{v.requires_python}</dd>
                </>
              )}
              {v && (
                <>
                  <dt>Content hash</dt>
                  <dd>
                    <code className="hash" title={v.content_hash}>
                      {shortHash(v.content_hash)}
                    </code>
                  </dd>
                  <dt>Published</dt>
                  <dd>
                    {formatDate(v.created_at)}
                    {v.published_by ? ` by ${v.published_by}` : ""}
                  </dd>
                </>
              )}
            </dl>
            {v && v.dependencies.length > 0 && (
              <details className="deps">
                <summary>Dependencies ({v.dependencies.length})</summary>
                <ul>
                  {v.dependencies.map((d) => (
                    <li key={d}>
                      <code>{d}</code>
                    </li>
                  ))}
                </ul>
              </details>
            )}
            {v && v.files.length > 0 && (
              <details className="deps">
                <summary>Files ({v.files.length})</summary>
                <ul>
                  {v.files.map((f) => (
                    <li key={f.filename}>
                      <a href={f.download_url}>{f.filename}</a>
                    </li>
                  ))}
                </ul>
              </details>
            )}
          </section>
        </aside>
      </div>
    </article>
  );
}
