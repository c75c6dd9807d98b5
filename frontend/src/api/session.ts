/** Cookie session of the web UI: sign in, who am I, sign out. Keeps the CSRF token. */
import { api, isUnauthorized, setCsrfToken, unwrap, unwrapEmpty } from "./client";
import type { Session } from "./types";

/** The current session, or null when nobody is signed in. */
export async function getSession(): Promise<Session | null> {
  try {
    const session = await unwrap(api.GET("/api/v1/session"));
    setCsrfToken(session.csrf_token);
    return session;
  } catch (error) {
    if (isUnauthorized(error)) {
      setCsrfToken(null);
      return null;
    }
    throw error;
  }
}

export async function signIn(username: string, password: string): Promise<Session> {
  const session = await unwrap(api.POST("/api/v1/session", { body: { username, password } }));
  setCsrfToken(session.csrf_token);
  return session;
}

export async function signOut(): Promise<void> {
  try {
    await unwrapEmpty(api.DELETE("/api/v1/session"));
  } finally {
    setCsrfToken(null);
  }
}
