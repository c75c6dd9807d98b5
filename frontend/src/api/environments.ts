/** Registry: environments, versions, files, stars, downloads, tags. */
import { api, unwrap } from "./client";
import type {
  DownloadDay,
  Environment,
  EnvironmentPage,
  FileContent,
  Runtime,
  SortKey,
  TagCount,
  TreeEntry,
  Version,
  VersionSummary,
} from "./types";

export interface EnvironmentQuery {
  q?: string;
  owner?: string;
  tag?: string[];
  runtime?: Runtime;
  sort?: SortKey;
  order?: "asc" | "desc";
  page?: number;
  per_page?: number;
}

function clean<T extends object>(query: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return out as T;
}

export function listEnvironments(query: EnvironmentQuery = {}): Promise<EnvironmentPage> {
  return unwrap(api.GET("/api/v1/environments", { params: { query: clean(query) } }));
}

export function getEnvironment(owner: string, name: string): Promise<Environment> {
  return unwrap(api.GET("/api/v1/environments/{owner}/{name}", { params: { path: { owner, name } } }));
}

export interface StarState {
  stars: number;
  starred: boolean;
}

/** Star or unstar; answers the new count (the hub answers the EnvironmentOut). */
export async function setStar(env: Pick<Environment, "owner" | "name" | "stars" | "starred">, starred: boolean): Promise<StarState> {
  const params = { params: { path: { owner: env.owner, name: env.name } } };
  const data = starred
    ? await unwrap(api.PUT("/api/v1/environments/{owner}/{name}/star", params))
    : await unwrap(api.DELETE("/api/v1/environments/{owner}/{name}/star", params));
  if (data && typeof data === "object" && typeof data.stars === "number") return { stars: data.stars, starred: data.starred ?? starred };
  const delta = starred === env.starred ? 0 : starred ? 1 : -1;
  return { stars: Math.max(0, env.stars + delta), starred };
}

export function listVersions(owner: string, name: string): Promise<VersionSummary[]> {
  return unwrap(api.GET("/api/v1/environments/{owner}/{name}/versions", { params: { path: { owner, name } } }));
}

export function getVersion(owner: string, name: string, version = "latest"): Promise<Version> {
  return unwrap(
    api.GET("/api/v1/environments/{owner}/{name}/versions/{version}", { params: { path: { owner, name, version } } }),
  );
}

export function getTree(owner: string, name: string, version: string): Promise<TreeEntry[]> {
  return unwrap(
    api.GET("/api/v1/environments/{owner}/{name}/versions/{version}/tree", { params: { path: { owner, name, version } } }),
  );
}

/** Encode each segment of a file path but keep its slashes (`{path:path}` on the hub). */
export function encodeFilePath(path: string): string {
  return path
    .split("/")
    .filter((s) => s !== "")
    .map(encodeURIComponent)
    .join("/");
}

export function getFile(owner: string, name: string, version: string, path: string): Promise<FileContent> {
  return unwrap(
    api.GET("/api/v1/environments/{owner}/{name}/versions/{version}/files/{path}", {
      params: { path: { owner, name, version, path } },
      pathSerializer: (template: string, params: Record<string, unknown>) =>
        template.replace(/\{(\w+)\}/g, (_m, key: string) => {
          const value = String(params[key] ?? "");
          return key === "path" ? encodeFilePath(value) : encodeURIComponent(value);
        }),
    }),
  );
}

export function getDownloads(owner: string, name: string, days = 30): Promise<DownloadDay[]> {
  return unwrap(
    api.GET("/api/v1/environments/{owner}/{name}/downloads", { params: { path: { owner, name }, query: { days } } }),
  );
}

export function listTags(limit = 24): Promise<TagCount[]> {
  return unwrap(api.GET("/api/v1/tags", { params: { query: { limit } } }));
}
