import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, useLocation } from "react-router-dom";
import { AppRoutes } from "../App";
import type { User } from "../api/types";
import { SessionProvider } from "../lib/session";

export function LocationProbe() {
  const location = useLocation();
  return <output data-testid="location">{location.pathname + location.search}</output>;
}

/** Render the whole app (all routes) at `path`, signed in as `user` (or anonymous with null). */
export function renderApp(path: string, user: User | null = null) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <SessionProvider initialUser={user}>
        <AppRoutes />
        <LocationProbe />
      </SessionProvider>
    </MemoryRouter>,
  );
}

/** Render one element inside a router + session. */
export function renderWithRouter(ui: ReactElement, { path = "/", user = null }: { path?: string; user?: User | null } = {}) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <SessionProvider initialUser={user}>
        {ui}
        <LocationProbe />
      </SessionProvider>
    </MemoryRouter>,
  );
}
