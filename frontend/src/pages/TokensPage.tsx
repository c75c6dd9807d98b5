import { useState, type FormEvent } from "react";
import { Navigate } from "react-router-dom";
import { createToken, listTokens, revokeToken } from "../api/accounts";
import { errorMessage } from "../api/client";
import type { Token, TokenCreated, TokenScope } from "../api/types";
import { CopyButton } from "../components/CopyButton";
import { Empty, ErrorMessage, Loading } from "../components/Feedback";
import { SettingsNav } from "../components/SettingsNav";
import { formatDate, relativeTime } from "../lib/format";
import { useSession } from "../lib/session";
import { useAsync } from "../lib/useAsync";
import { useTitle } from "../lib/useTitle";

const EXPIRIES: { value: string; label: string }[] = [
  { value: "7", label: "7 days" },
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
  { value: "365", label: "1 year" },
  { value: "", label: "Never" },
];

const SCOPES: { value: TokenScope; label: string }[] = [
  { value: "read", label: "read — install private environments, read results" },
  { value: "write", label: "write — also publish and run evaluations" },
  { value: "admin", label: "admin — also manage organizations and tokens" },
];

function tokenState(t: Token, now: number): "active" | "revoked" | "expired" {
  if (t.revoked_at) return "revoked";
  if (t.expires_at && new Date(t.expires_at).getTime() <= now) return "expired";
  return "active";
}

function TokenRow({ token, onRevoked }: { token: Token; onRevoked: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const now = Date.now();
  const state = tokenState(token, now);
  async function revoke() {
    setBusy(true);
    setError(null);
    try {
      await revokeToken(token.id);
      onRevoked();
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  }
  return (
    <tr data-testid="token-row" data-token-name={token.name}>
      <th scope="row">
        {token.name}{" "}
        <code className="hash" title="The token's first characters">
          {token.prefix}…
        </code>
      </th>
      <td>
        <span className="badge badge-muted">{token.scope}</span>
      </td>
      <td>{formatDate(token.created_at)}</td>
      <td>{token.expires_at ? formatDate(token.expires_at) : "never"}</td>
      <td>{token.last_used_at ? relativeTime(token.last_used_at, now) : "never"}</td>
      <td>
        <span className={`badge ${state === "active" ? "badge-ok" : "badge-muted"}`} data-testid="token-state">
          {state}
        </span>
      </td>
      <td className="actions">
        {state === "active" &&
          (confirming ? (
            <>
              <button type="button" className="btn btn-small btn-danger" onClick={revoke} disabled={busy} data-testid="confirm-revoke">
                Confirm revoke
              </button>{" "}
              <button type="button" className="btn btn-small btn-ghost" onClick={() => setConfirming(false)} disabled={busy}>
                Cancel
              </button>
            </>
          ) : (
            <button type="button" className="btn btn-small" onClick={() => setConfirming(true)} aria-label={`Revoke token ${token.name}`} data-testid="revoke-token">
              Revoke
            </button>
          ))}
        {error && (
          <span className="field-error" role="alert">
            {error}
          </span>
        )}
      </td>
    </tr>
  );
}

export default function TokensPage() {
  useTitle("API tokens");
  const { user, loading } = useSession();
  const tokens = useAsync(() => (user ? listTokens() : Promise.resolve([] as Token[])), [user?.username]);
  const [name, setName] = useState("");
  const [scope, setScope] = useState<TokenScope>("read");
  const [expiry, setExpiry] = useState("90");
  const [created, setCreated] = useState<TokenCreated | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (loading) return <Loading />;
  if (!user) return <Navigate to={`/login?next=${encodeURIComponent("/settings/tokens")}`} replace />;

  async function onCreate(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const t = await createToken(name.trim(), scope, expiry ? Number(expiry) : null);
      setCreated(t);
      setName("");
      tokens.reload();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="tokens-page">
      <h1>API tokens</h1>
      <SettingsNav />
      <p className="muted">Tokens authenticate the envhub CLI, prime, pip and uv (as the password of the index URL). Treat them like passwords.</p>

      {created && (
        <section className="alert alert-success token-created" aria-labelledby="created-title" data-testid="token-created">
          <h2 id="created-title">Token “{created.name}” created</h2>
          <p>Copy it now: it will not be shown again.</p>
          <div className="snippet">
            <code className="snippet-code" data-testid="new-token">
              {created.token}
            </code>
            <CopyButton text={created.token} label="Copy new token" testId="copy-token" />
          </div>
          <button type="button" className="btn btn-small btn-ghost" onClick={() => setCreated(null)}>
            Done
          </button>
        </section>
      )}

      <form className="form card" onSubmit={onCreate} aria-labelledby="new-token-title" data-testid="token-form">
        <h2 id="new-token-title" className="card-title">
          New token
        </h2>
        <div className="form-grid">
          <div className="field">
            <label htmlFor="token-name">Name</label>
            <input id="token-name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. laptop, ci" data-testid="token-name" />
          </div>
          <div className="field">
            <label htmlFor="token-scope">Scope</label>
            <select id="token-scope" value={scope} onChange={(e) => setScope(e.target.value as TokenScope)} data-testid="token-scope">
              {SCOPES.map((s) => (
                <option key={s.value} value={s.value}>
                  {s.label}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="token-expiry">Expires after</label>
            <select id="token-expiry" value={expiry} onChange={(e) => setExpiry(e.target.value)} data-testid="token-expiry">
              {EXPIRIES.map((x) => (
                <option key={x.label} value={x.value}>
                  {x.label}
                </option>
              ))}
            </select>
          </div>
        </div>
        {error && (
          <p className="alert alert-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy || !name.trim()} data-testid="token-create">
          {busy ? "Creating…" : "Create token"}
        </button>
      </form>

      <h2>Your tokens</h2>
      {tokens.error ? (
        <ErrorMessage error={tokens.error} onRetry={tokens.reload} />
      ) : !tokens.data ? (
        <Loading />
      ) : tokens.data.length === 0 ? (
        <Empty>No tokens yet.</Empty>
      ) : (
        <div className="table-wrap" role="region" aria-label="Your tokens" tabIndex={0}>
          <table className="table" data-testid="tokens-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Scope</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => (
                <TokenRow key={String(t.id)} token={t} onRevoked={tokens.reload} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
