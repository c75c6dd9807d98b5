/** A tiny fake hub for component tests: stubs globalThis.fetch and records requests. */
import { vi } from "vitest";

export type Handler = (ctx: { req: Request; url: URL; params: Record<string, string>; body: unknown }) => unknown;

export interface MockApi {
  calls: { method: string; url: URL; headers: Headers; body: unknown }[];
  fetch: ReturnType<typeof vi.fn>;
}

export function json(data: unknown, status = 200): Response {
  return new Response(status === 204 ? null : JSON.stringify(data), {
    status,
    headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" },
  });
}

export function problem(status: number, code: string, detail = code): Response {
  return json({ type: `https://envhub.dev/problems/${code}`, title: code, status, detail, code }, status);
}

function match(pattern: string, pathname: string): Record<string, string> | null {
  const names: string[] = [];
  const source = pattern
    .split(/(\{\w+\*?\})/)
    .map((part) => {
      const param = /^\{(\w+)(\*?)\}$/.exec(part);
      if (!param) return part.replace(/[.*+?^$()|[\]\\{}]/g, "\\$&");
      names.push(param[1]);
      return param[2] ? "(.+)" : "([^/]+)";
    })
    .join("");
  const m = new RegExp(`^${source}$`).exec(pathname);
  if (!m) return null;
  return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
}

/**
 * routes: {"GET /api/v1/environments/{owner}/{name}": value | handler}. `{path*}` matches
 * across slashes. A handler may return a Response (e.g. problem(404, ...)) or JSON data.
 * Unmatched requests answer 404 not-found.
 */
export function mockApi(routes: Record<string, unknown>): MockApi {
  const calls: MockApi["calls"] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = input instanceof Request ? input : new Request(String(input), init);
    const url = new URL(req.url);
    const text = req.method === "GET" || req.method === "HEAD" ? "" : await req.clone().text();
    let body: unknown = undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    calls.push({ method: req.method, url, headers: req.headers, body });
    for (const [key, handler] of Object.entries(routes)) {
      const [method, pattern] = key.split(" ");
      if (method !== req.method) continue;
      const params = match(pattern, url.pathname);
      if (!params) continue;
      const out = typeof handler === "function" ? await (handler as Handler)({ req, url, params, body }) : handler;
      return out instanceof Response ? out : json(out);
    }
    return problem(404, "not-found", `no route for ${req.method} ${url.pathname}`);
  });
  vi.stubGlobal("fetch", fetch);
  return { calls, fetch };
}
