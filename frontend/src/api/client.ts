/**
 * The one HTTP client of the web app. Every call to the hub goes through `api`
 * (typed by the generated `schema.d.ts`) from a domain module in this folder;
 * components and pages never call fetch or EventSource themselves.
 *
 * Web auth is a cookie session (see session.ts); cookie-authenticated writes must
 * carry `X-CSRF-Token`, which the middleware below adds to every unsafe request.
 */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Problem = components["schemas"]["Problem"];

let csrfToken: string | null = null;

/** Remember the CSRF token of the current session (null when signed out). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function getCsrfToken(): string | null {
  return csrfToken;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const csrfMiddleware: Middleware = {
  onRequest({ request }) {
    if (!SAFE_METHODS.has(request.method.toUpperCase()) && csrfToken) {
      request.headers.set("X-CSRF-Token", csrfToken);
    }
    return request;
  },
};

/** Origin of the hub API: the page's own origin (the hub serves the SPA; `vite dev` proxies). */
export function apiOrigin(): string {
  return typeof window !== "undefined" && window.location ? window.location.origin : "";
}

export const api = createClient<paths>({
  baseUrl: apiOrigin(),
  credentials: "same-origin",
  headers: { Accept: "application/json" },
  // Looked up at call time (not captured once) so tests can stub globalThis.fetch.
  fetch: (request: Request) => globalThis.fetch(request),
});
api.use(csrfMiddleware);

/** An error answer from the hub, carrying its RFC 9457 problem details. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Partial<Problem> | null;

  constructor(status: number, problem: Partial<Problem> | null, fallback?: string) {
    const detail = problem?.detail ?? problem?.title ?? fallback ?? `HTTP ${status}`;
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.code = problem?.code ?? (status === 404 ? "not-found" : status === 401 ? "unauthorized" : "http-error");
    this.problem = problem;
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}

export function isUnauthorized(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401;
}

/** Human text for any error a page may show. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

type Result<T> = { data?: T; error?: unknown; response: Response };

function toProblem(error: unknown): Partial<Problem> | null {
  if (error && typeof error === "object") {
    const e = error as Record<string, unknown>;
    // FastAPI's default 422 body is {detail: [...]}: keep a readable message.
    if (Array.isArray(e.detail)) {
      const msgs = e.detail
        .map((d) => (d && typeof d === "object" && "msg" in d ? String((d as { msg: unknown }).msg) : ""))
        .filter(Boolean);
      return { ...(e as Partial<Problem>), detail: msgs.join("; ") || "Invalid input" };
    }
    return e as Partial<Problem>;
  }
  if (typeof error === "string" && error) return { detail: error };
  return null;
}

/** Resolve an openapi-fetch call to its data, or throw an ApiError. */
export async function unwrap<T>(call: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) {
    throw new ApiError(response.status, toProblem(error), response.statusText);
  }
  return data as T;
}

/** Same as unwrap for endpoints answering 204 / no body. */
export async function unwrapEmpty(call: Promise<Result<unknown>>): Promise<void> {
  await unwrap(call);
}

/** Absolute URL of an API path (for EventSource, which cannot go through openapi-fetch). */
export function apiUrl(path: string): string {
  return `${apiOrigin()}${path}`;
}
