import { NavLink } from "react-router-dom";

/** Sub-navigation of the signed-in user's settings pages. */
export function SettingsNav() {
  return (
    <nav className="settings-nav" aria-label="Settings" data-testid="settings-nav">
      <NavLink to="/settings/account">Account</NavLink>
      <NavLink to="/settings/tokens">API tokens</NavLink>
    </nav>
  );
}
