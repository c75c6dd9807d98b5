import { Link, useParams, useSearchParams } from "react-router-dom";
import { getOwner, listUserOrgs } from "../api/accounts";
import type { OrgRef } from "../api/types";
import { isNotFound } from "../api/client";
import { listEnvironments } from "../api/environments";
import { EnvironmentList } from "../components/EnvironmentList";
import { Empty, ErrorMessage, Loading, NotFound } from "../components/Feedback";
import { Pager } from "../components/Pager";
import { formatDate, formatNumber } from "../lib/format";
import { useSession } from "../lib/session";
import { useAsync } from "../lib/useAsync";
import { useTitle } from "../lib/useTitle";

const PER_PAGE = 30;

/** A user's organizations: only the memberships they chose to show (the hub filters). */
function UserOrgs({ username, isMe }: { username: string; isMe: boolean }) {
  const orgs = useAsync<OrgRef[]>(() => listUserOrgs(username), [username]);
  if (orgs.error || !orgs.data) return null; // secondary information: no spinner, no error box
  if (orgs.data.length === 0 && !isMe) return null;
  return (
    <section aria-labelledby="owner-orgs-title" className="owner-orgs">
      <h2 id="owner-orgs-title">Organizations</h2>
      {orgs.data.length === 0 ? (
        <p className="muted small">
          None shown. Your memberships are private until you choose to show them in <Link to="/settings/account">account settings</Link>.
        </p>
      ) : (
        <ul className="org-chips" data-testid="owner-orgs">
          {orgs.data.map((o) => (
            <li key={o.name}>
              <Link className="org-chip" to={`/${encodeURIComponent(o.name)}`} data-testid="owner-org" data-org={o.name}>
                <span className="org-chip-mark" aria-hidden="true">
                  {o.name.slice(0, 1).toUpperCase()}
                </span>
                {o.display_name || o.name}
              </Link>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** `/:owner`: a user's or an organization's profile with their environments. */
export default function OwnerPage() {
  const { owner = "" } = useParams();
  const [params] = useSearchParams();
  const page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  useTitle(owner);
  const { user } = useSession();
  const profile = useAsync(() => getOwner(owner), [owner]);
  const envs = useAsync(() => listEnvironments({ owner, sort: "updated", order: "desc", page, per_page: PER_PAGE }), [owner, page]);

  if (isNotFound(profile.error)) return <NotFound what={`The user or organization “${owner}”`} />;
  if (profile.error) return <ErrorMessage error={profile.error} onRetry={profile.reload} />;
  if (!profile.data) return <Loading />;
  const who = profile.data;
  const isOrg = who.kind === "org";
  const isMe = !!user && user.username === who.name;

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
        {!isOrg && isMe && (
          <Link className="btn btn-small owner-edit" to="/settings/account" data-testid="edit-profile">
            Edit profile
          </Link>
        )}
      </header>
      {!isOrg && <UserOrgs username={who.name} isMe={isMe} />}
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
