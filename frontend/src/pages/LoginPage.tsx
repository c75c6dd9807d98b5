import { useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { isUnauthorized, errorMessage } from "../api/client";
import { useSession } from "../lib/session";
import { useTitle } from "../lib/useTitle";

/** Only same-site paths are accepted as a post-login destination. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  return next;
}

export default function LoginPage() {
  useTitle("Sign in");
  const { user, signIn } = useSession();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const next = safeNext(params.get("next"));
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await signIn(username.trim(), password);
      navigate(next, { replace: true });
    } catch (err) {
      setError(isUnauthorized(err) ? "Wrong username or password." : errorMessage(err));
      setBusy(false);
    }
  }

  return (
    <div className="narrow">
      <h1>Sign in</h1>
      {user && (
        <p className="alert alert-info">
          You are signed in as <strong>{user.username}</strong>. <Link to={next}>Continue</Link>
        </p>
      )}
      <form className="form" onSubmit={onSubmit} aria-label="Sign in" data-testid="login-form">
        <div className="field">
          <label htmlFor="login-username">Username</label>
          <input id="login-username" name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} data-testid="login-username" />
        </div>
        <div className="field">
          <label htmlFor="login-password">Password</label>
          <input id="login-password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} data-testid="login-password" />
        </div>
        {error && (
          <p className="alert alert-error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy || !username || !password} data-testid="login-submit">
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p className="muted small">The command line uses API tokens instead: create one under Settings → Tokens after signing in.</p>
    </div>
  );
}
