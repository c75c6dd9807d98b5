import { Link, useParams, useSearchParams } from "react-router-dom";
import { getOwner } from "../api/accounts";
import { isNotFound } from "../api/client";
import { listEnvironments } from "../api/environments";
import { EnvironmentList } from "../components/EnvironmentList";
import { Empty, ErrorMessage, Loading, NotFound } from "../components/Feedback";
import { Pager } from "../components/Pager";
import { formatDate, formatNumber } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { useTitle } from "../lib/useTitle";

const PER_PAGE = 30;

/** `/:owner`: a user's or an organization's profile with their environments. */
export default function OwnerPage() {
  const { owner = "" } = useParams();
  const [params] = useSearchParams();
  const page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  useTitle(owner);
  const profile = useAsync(() => getOwner(owner), [owner]);
  const envs = useAsync(() => listEnvironments({ owner, sort: "updated", order: "desc", page, per_page: PER_PAGE }), [owner, page]);

  if (isNotFound(profile.error)) return <NotFound what={`The user or organization “${owner}”`} />;
  if (profile.error) return <ErrorMessage error={profile.error} onRetry={profile.reload} />;
  if (!profile.data) return <Loading />;
  const who = profile.data;
  const isOrg = who.kind === "org";

  return (
    <div className="owner-page">
      <header className="owner-header">
        <div className="avatar" aria-hidden="true">
          {(profile.data.name || owner).slice(0, 1).toUpperCase()}
        </div>
        <div>
          <h1 data-testid="owner-title">{who.display_name || who.name}</h1>
          <p className="muted">
            <span className="badge badge-muted">{isOrg ? "Organization" : "User"}</span> {who.name} · {isOrg ? "created" : "joined"} {formatDate(who.created_at)}
            {isOrg && (
              <>
                {" "}
                · <Link to={`/orgs/${encodeURIComponent(owner)}`}>Members</Link>
              </>
            )}
          </p>
        </div>
      </header>
      <section aria-labelledby="owner-envs">
        <h2 id="owner-envs">
          Environments{envs.data ? <span className="muted"> ({formatNumber(envs.data.total)})</span> : null}
        </h2>
        {envs.error ? (
          <ErrorMessage error={envs.error} onRetry={envs.reload} />
        ) : !envs.data ? (
          <Loading />
        ) : envs.data.items.length === 0 ? (
          <Empty>{owner} has not published any environment yet.</Empty>
        ) : (
          <>
            <EnvironmentList items={envs.data.items} label={`Environments of ${owner}`} />
            <Pager page={page} total={envs.data.total} perPage={envs.data.per_page || PER_PAGE} hrefFor={(p) => (p > 1 ? `?page=${p}` : "?")} />
          </>
        )}
      </section>
    </div>
  );
}
