import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import { getOrg, putMember, removeMember } from "../api/accounts";
import { errorMessage, isNotFound } from "../api/client";
import type { OrgRole } from "../api/types";
import { Empty, ErrorMessage, Loading, NotFound } from "../components/Feedback";
import { formatDate } from "../lib/format";
import { useSession } from "../lib/session";
import { useAsync } from "../lib/useAsync";
import { useTitle } from "../lib/useTitle";

const ROLES: OrgRole[] = ["owner", "admin", "write", "read"];

/** `/orgs/:name`: an organization and its members (managed by its owners and admins). */
export default function OrgPage() {
  const { name = "" } = useParams();
  useTitle(`${name} · members`);
  const { user } = useSession();
  const org = useAsync(() => getOrg(name), [name, user?.username]);
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<OrgRole>("read");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (isNotFound(org.error)) return <NotFound what={`The organization “${name}”`} />;
  if (org.error) return <ErrorMessage error={org.error} onRetry={org.reload} />;
  if (!org.data) return <Loading />;

  const members = org.data.members;
  const myRole = org.data.your_role ?? members?.find((m) => m.username === user?.username)?.role;
  const canManage = !!user && (user.is_admin || myRole === "owner" || myRole === "admin");

  async function run(action: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await action();
      org.reload();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  function onAdd(e: FormEvent) {
    e.preventDefault();
    const who = username.trim();
    if (!who) return;
    void run(async () => {
      await putMember(name, who, role);
      setUsername("");
    });
  }

  return (
    <div className="org-page">
      <h1>{org.data.display_name || org.data.name}</h1>
      <p className="muted">
        <span className="badge badge-muted">Organization</span> {org.data.name} · created {formatDate(org.data.created_at)} ·{" "}
        <Link to={`/${encodeURIComponent(org.data.name)}`}>Environments</Link>
      </p>
      <h2>Members</h2>
      {error && (
        <p className="alert alert-error" role="alert">
          {error}
        </p>
      )}
      {members == null ? (
        <Empty>Members are visible to members of the organization only.</Empty>
      ) : members.length === 0 ? (
        <Empty>No members.</Empty>
      ) : (
        <div className="table-wrap" role="region" aria-label="Members" tabIndex={0}>
          <table className="table" data-testid="members-table">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                {canManage && (
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {members.map((m) => (
                <tr key={m.username} data-testid="member-row">
                  <th scope="row">
                    <Link to={`/${encodeURIComponent(m.username)}`}>{m.username}</Link>
                  </th>
                  <td>
                    {canManage ? (
                      <select aria-label={`Role of ${m.username}`} value={m.role} disabled={busy} onChange={(e) => void run(() => putMember(name, m.username, e.target.value as OrgRole))}>
                        {ROLES.map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                      </select>
                    ) : (
                      m.role
                    )}
                  </td>
                  {canManage && (
                    <td className="actions">
                      <button type="button" className="btn btn-small btn-danger" disabled={busy} onClick={() => void run(() => removeMember(name, m.username))} aria-label={`Remove ${m.username}`}>
                        Remove
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {canManage && (
        <form className="form card" onSubmit={onAdd} aria-labelledby="add-member-title">
          <h3 id="add-member-title" className="card-title">
            Add a member
          </h3>
          <div className="form-grid">
            <div className="field">
              <label htmlFor="member-username">Username</label>
              <input id="member-username" value={username} onChange={(e) => setUsername(e.target.value)} required autoComplete="off" />
            </div>
            <div className="field">
              <label htmlFor="member-role">Role</label>
              <select id="member-role" value={role} onChange={(e) => setRole(e.target.value as OrgRole)}>
                {ROLES.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </div>
          </div>
          <button type="submit" className="btn btn-primary" disabled={busy || !username.trim()}>
            Add member
          </button>
        </form>
      )}
    </div>
  );
}
