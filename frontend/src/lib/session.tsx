import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import * as sessionApi from "../api/session";
import type { User } from "../api/types";

export interface SessionState {
  user: User | null;
  /** true until the first GET /session answered */
  loading: boolean;
  signIn(username: string, password: string): Promise<User>;
  signOut(): Promise<void>;
  refresh(): Promise<void>;
}

const SessionContext = createContext<SessionState>({
  user: null,
  loading: false,
  signIn: () => Promise.reject(new Error("no session provider")),
  signOut: () => Promise.resolve(),
  refresh: () => Promise.resolve(),
});

export function SessionProvider({ children, initialUser }: { children: ReactNode; initialUser?: User | null }) {
  const [user, setUser] = useState<User | null>(initialUser ?? null);
  const [loading, setLoading] = useState(initialUser === undefined);

  const refresh = useCallback(async () => {
    try {
      const session = await sessionApi.getSession();
      setUser(session?.user ?? null);
    } catch {
      setUser(null);
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    if (initialUser === undefined) void refresh();
  }, [initialUser, refresh]);

  const signIn = useCallback(async (username: string, password: string) => {
    const session = await sessionApi.signIn(username, password);
    setUser(session.user);
    return session.user;
  }, []);

  const signOut = useCallback(async () => {
    try {
      await sessionApi.signOut();
    } finally {
      setUser(null);
    }
  }, []);

  const value = useMemo(() => ({ user, loading, signIn, signOut, refresh }), [user, loading, signIn, signOut, refresh]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  return useContext(SessionContext);
}
