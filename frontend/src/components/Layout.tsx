import { Suspense, useState } from "react";
import { Link, NavLink, Outlet, useLocation, useNavigate } from "react-router-dom";
import { useSession } from "../lib/session";
import { Loading } from "./Feedback";

function UserMenu() {
  const { user, loading, signOut } = useSession();
  const location = useLocation();
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  if (loading) return <span className="nav-placeholder" aria-hidden="true" />;
  if (!user) {
    const next = location.pathname === "/login" ? "" : `?next=${encodeURIComponent(location.pathname + location.search)}`;
    return (
      <Link className="btn btn-small" to={`/login${next}`} data-testid="sign-in-link">
        Sign in
      </Link>
    );
  }
  return (
    <div className="user-menu">
      <Link to={`/${encodeURIComponent(user.username)}`} className="user-name" data-testid="current-user">
        {user.username}
      </Link>
      <NavLink to="/settings/account" data-testid="settings-link">
        Settings
      </NavLink>
      <button
        type="button"
        className="btn btn-small btn-ghost"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await signOut();
            navigate("/");
          } finally {
            setBusy(false);
          }
        }}
        data-testid="sign-out"
      >
        Sign out
      </button>
    </div>
  );
}

export function Layout() {
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <div className="container header-inner">
          <Link to="/" className="brand" aria-label="Environments Hub home">
            <span className="brand-mark" aria-hidden="true">
              ◆
            </span>
            <span className="brand-text">Environments Hub</span>
          </Link>
          <nav aria-label="Main" className="main-nav">
            <NavLink to="/environments">Environments</NavLink>
          </nav>
          <UserMenu />
        </div>
      </header>
      <main id="main" className="container main" tabIndex={-1}>
        <Suspense fallback={<Loading />}>
          <Outlet />
        </Suspense>
      </main>
      <footer className="site-footer">
        <div className="container">
          <a href="/api/v1/docs">API</a>
        </div>
      </footer>
    </>
  );
}
