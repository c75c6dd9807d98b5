import { useState } from "react";
import { Link, useLocation } from "react-router-dom";
import { setStar } from "../api/environments";
import { errorMessage } from "../api/client";
import type { Environment } from "../api/types";
import { formatNumber } from "../lib/format";
import { useSession } from "../lib/session";

export function StarButton({ env }: { env: Pick<Environment, "owner" | "name" | "stars" | "starred"> }) {
  const { user } = useSession();
  const location = useLocation();
  const [state, setState] = useState({ stars: env.stars, starred: env.starred });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  if (!user) {
    return (
      <Link
        className="btn star-button"
        to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`}
        data-testid="star-button"
        aria-label={`Sign in to star (${formatNumber(state.stars)} stars)`}
      >
        <span aria-hidden="true">☆</span> Star <span className="count">{formatNumber(state.stars)}</span>
      </Link>
    );
  }

  async function toggle() {
    const want = !state.starred;
    const before = state;
    setBusy(true);
    setError(null);
    setState({ stars: Math.max(0, state.stars + (want ? 1 : -1)), starred: want }); // optimistic
    try {
      setState(await setStar({ ...env, ...before }, want));
    } catch (e) {
      setState(before);
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <span className="star-wrap">
      <button
        type="button"
        className={`btn star-button${state.starred ? " is-starred" : ""}`}
        aria-pressed={state.starred}
        onClick={toggle}
        disabled={busy}
        data-testid="star-button"
      >
        <span aria-hidden="true">{state.starred ? "★" : "☆"}</span> {state.starred ? "Starred" : "Star"}{" "}
        <span className="count" data-testid="star-count">
          {formatNumber(state.stars)}
        </span>
      </button>
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}
