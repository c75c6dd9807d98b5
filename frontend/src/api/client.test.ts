import { describe, expect, it } from "vitest";
import { ApiError, setCsrfToken } from "./client";
import { encodeFilePath, getEnvironment, getFile, setStar } from "./environments";
import { getSession, signIn } from "./session";
import { mockApi, problem } from "../test/mockApi";
import { user } from "../test/fixtures";

describe("API client", () => {
  it("sends X-CSRF-Token on cookie-authenticated writes only", async () => {
    const api = mockApi({
      "POST /api/v1/session": { user, csrf_token: "csrf-abc" },
      "PUT /api/v1/environments/{owner}/{name}/star": { stars: 2, starred: true },
      "GET /api/v1/environments/{owner}/{name}": {},
    });
    await signIn("alice", "pw");
    await getEnvironment("alice", "gsm8k");
    const star = await setStar({ owner: "alice", name: "gsm8k", stars: 1, starred: false }, true);
    expect(star).toEqual({ stars: 2, starred: true });
    const [login, get, put] = api.calls;
    expect(login.body).toEqual({ username: "alice", password: "pw" });
    expect(get.headers.get("X-CSRF-Token")).toBeNull();
    expect(put.method).toBe("PUT");
    expect(put.headers.get("X-CSRF-Token")).toBe("csrf-abc");
  });

  it("treats 401 on GET /session as signed out and forgets the token", async () => {
    setCsrfToken("old");
    const api = mockApi({ "GET /api/v1/session": problem(401, "unauthorized"), "DELETE /api/v1/environments/{owner}/{name}/star": () => new Response(null, { status: 204 }) });
    expect(await getSession()).toBeNull();
    await setStar({ owner: "a", name: "b", stars: 5, starred: true }, false);
    expect(api.calls[1].headers.get("X-CSRF-Token")).toBeNull();
  });

  it("turns problem details into ApiError with the stable code", async () => {
    mockApi({ "GET /api/v1/environments/{owner}/{name}": problem(404, "environment-not-found", "no such environment") });
    const err = await getEnvironment("x", "y").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(404);
    expect((err as ApiError).code).toBe("environment-not-found");
    expect((err as ApiError).message).toBe("no such environment");
  });

  it("keeps slashes of file paths but encodes their segments", async () => {
    expect(encodeFilePath("src/my env/a#b.py")).toBe("src/my%20env/a%23b.py");
    const api = mockApi({ "GET /api/v1/environments/{owner}/{name}/versions/{version}/files/{path*}": { path: "x", size: 1, content: "", encoding: "utf-8", truncated: false } });
    await getFile("alice", "gsm8k", "0.2.0", "src/gsm8k/__init__.py");
    expect(api.calls[0].url.pathname).toBe("/api/v1/environments/alice/gsm8k/versions/0.2.0/files/src/gsm8k/__init__.py");
  });
});
