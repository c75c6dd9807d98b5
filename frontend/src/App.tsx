import { lazy, Suspense } from "react";
import { Navigate, Route, Routes } from "react-router-dom";
import { Loading } from "./components/Feedback";
import { Layout } from "./components/Layout";
import CatalogPage from "./pages/CatalogPage";
import HomePage from "./pages/HomePage";
import NotFoundPage from "./pages/NotFoundPage";

// Home and catalog ship in the entry chunk (first paint); the rest load on demand.
const EnvironmentPage = lazy(() => import("./pages/EnvironmentPage"));
const EvalPage = lazy(() => import("./pages/EvalPage"));
const OwnerPage = lazy(() => import("./pages/OwnerPage"));
const LoginPage = lazy(() => import("./pages/LoginPage"));
const TokensPage = lazy(() => import("./pages/TokensPage"));
const AccountPage = lazy(() => import("./pages/AccountPage"));
const OrgPage = lazy(() => import("./pages/OrgPage"));

/**
 * Routes are part of the hub's contract (links in the CLI, the index and e-mails point
 * at them). Static first segments (environments, login, settings, orgs, evals) win over
 * `/:owner`, so those names must stay reserved as user/org names on the hub.
 */
export function AppRoutes() {
  return (
    <Suspense fallback={<Loading />}>
      <Routes>
        <Route element={<Layout />}>
          <Route index element={<HomePage />} />
          <Route path="environments" element={<CatalogPage />} />
          <Route path="login" element={<LoginPage />} />
          <Route path="settings" element={<Navigate to="/settings/account" replace />} />
          <Route path="settings/account" element={<AccountPage />} />
          <Route path="settings/tokens" element={<TokensPage />} />
          <Route path="orgs/:name" element={<OrgPage />} />
          <Route path="evals/:id" element={<EvalPage />} />
          <Route path=":owner" element={<OwnerPage />} />
          <Route path=":owner/:name" element={<EnvironmentPage />} />
          <Route path=":owner/:name/v/:version" element={<EnvironmentPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Routes>
    </Suspense>
  );
}
