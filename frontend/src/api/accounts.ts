/** Accounts: users, organizations and members, API tokens. */
import { api, unwrap, unwrapEmpty } from "./client";
import type { Org, OrgRef, OrgRole, Owner, Token, TokenCreated, TokenScope, User, UserPublic } from "./types";

export function getUser(username: string): Promise<UserPublic> {
  return unwrap(api.GET("/api/v1/users/{username}", { params: { path: { username } } }));
}

/** A user or an organization by name: {name, kind: "user" | "org", display_name, created_at}. */
export function getOwner(name: string): Promise<Owner> {
  return unwrap(api.GET("/api/v1/owners/{name}", { params: { path: { name } } }));
}

/** The organizations a user shows on their profile (public memberships only). */
export function listUserOrgs(username: string): Promise<OrgRef[]> {
  return unwrap(api.GET("/api/v1/users/{username}/orgs", { params: { path: { username } } }));
}

/** Edit your profile; only the fields given change (an empty e-mail clears it). */
export function updateProfile(changes: { email?: string | null }): Promise<User> {
  return unwrap(api.PATCH("/api/v1/users/me", { body: changes }));
}

/** Change your password; other browser sessions end, API tokens keep working. */
export function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  return unwrapEmpty(api.PUT("/api/v1/users/me/password", { body: { current_password: currentPassword, new_password: newPassword } }));
}

/** The organizations you belong to, with your role. */
export function listMyOrgs(): Promise<Org[]> {
  return unwrap(api.GET("/api/v1/orgs"));
}

export function createOrg(name: string, displayName: string | null): Promise<Org> {
  return unwrap(api.POST("/api/v1/orgs", { body: { name, display_name: displayName } }));
}

/** Show or hide your membership of `org` on your public profile. */
export function setMembershipPublic(org: string, isPublic: boolean): Promise<Org> {
  return unwrap(api.PUT("/api/v1/orgs/{name}/membership", { params: { path: { name: org } }, body: { public: isPublic } }));
}

export function getOrg(name: string): Promise<Org> {
  return unwrap(api.GET("/api/v1/orgs/{name}", { params: { path: { name } } }));
}

export function putMember(org: string, username: string, role: OrgRole): Promise<Org> {
  return unwrap(
    api.PUT("/api/v1/orgs/{name}/members/{username}", { params: { path: { name: org, username } }, body: { role } }),
  );
}

export function removeMember(org: string, username: string): Promise<void> {
  return unwrapEmpty(api.DELETE("/api/v1/orgs/{name}/members/{username}", { params: { path: { name: org, username } } }));
}

export function listTokens(): Promise<Token[]> {
  return unwrap(api.GET("/api/v1/tokens"));
}

export function createToken(name: string, scope: TokenScope, expiresDays: number | null): Promise<TokenCreated> {
  return unwrap(api.POST("/api/v1/tokens", { body: { name, scope, expires_days: expiresDays } }));
}

export function revokeToken(id: string | number): Promise<void> {
  return unwrapEmpty(api.DELETE("/api/v1/tokens/{token_id}", { params: { path: { token_id: String(id) } } }));
}
