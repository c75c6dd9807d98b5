import type { ReactNode } from "react";
import { Link } from "react-router-dom";
import { errorMessage } from "../api/client";

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

export function ErrorMessage({ error, title = "Something went wrong", onRetry }: { error: unknown; title?: string; onRetry?: () => void }) {
  return (
    <div className="alert alert-error" role="alert">
      <strong>{title}.</strong> {errorMessage(error)}
      {onRetry && (
        <>
          {" "}
          <button type="button" className="btn btn-small" onClick={onRetry}>
            Try again
          </button>
        </>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function NotFound({ what }: { what?: string }) {
  return (
    <section className="not-found" data-testid="not-found" aria-labelledby="nf-title">
      <p className="not-found-code" aria-hidden="true">
        404
      </p>
      <h1 id="nf-title">Page not found</h1>
      <p>{what ? `${what} does not exist, or you do not have access to it.` : "There is nothing at this address."}</p>
      <p>
        <Link to="/">Home</Link> · <Link to="/environments">Browse environments</Link>
      </p>
    </section>
  );
}
