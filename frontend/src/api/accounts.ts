/** Accounts: users, organizations and members, API tokens. */
import { api, unwrap, unwrapEmpty } from "./client";
import type { Org, OrgRole, Owner, Token, TokenCreated, TokenScope, UserPublic } from "./types";

export function getUser(username: string): Promise<UserPublic> {
  return unwrap(api.GET("/api/v1/users/{username}", { params: { path: { username } } }));
}

/** A user or an organization by name: {name, kind: "user" | "org", display_name, created_at}. */
export function getOwner(name: string): Promise<Owner> {
  return unwrap(api.GET("/api/v1/owners/{name}", { params: { path: { name } } }));
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
