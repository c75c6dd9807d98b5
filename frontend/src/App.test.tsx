import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { environment, lbRow, user, version, versions } from "./test/fixtures";
import { json, mockApi, problem } from "./test/mockApi";
import { renderApp } from "./test/render";

const env = environment(1, { owner: "alice", name: "gsm8k", stars: 7 });

function envRoutes(extra: Record<string, unknown> = {}) {
  return {
    "GET /api/v1/environments/alice/gsm8k": env,
    "GET /api/v1/environments/alice/gsm8k/versions": versions,
    "GET /api/v1/environments/alice/gsm8k/versions/{version}": ({ params }: { params: Record<string, string> }) =>
      params.version === "latest" || params.version === "0.2.0" ? version : params.version === "0.1.0" ? { ...version, version: "0.1.0", yanked: true, yanked_reason: "broken" } : problem(404, "version-not-found"),
    "GET /api/v1/environments/alice/gsm8k/downloads": [
      { day: "2025-02-01", count: 3 },
      { day: "2025-02-02", count: 5 },
    ],
    "GET /api/v1/environments/alice/gsm8k/leaderboard": { rows: [lbRow("a/m1", 0.8, 0.7, 0.9, 1, 2), lbRow("b/m2", 0.75, 0.6, 0.85, 1, 2)] },
    "GET /api/v1/evals": { items: [], total: 0, page: 1, per_page: 10 },
    "GET /api/v1/providers": [
      { name: "local", models: ["smollm2-135m"] },
      { name: "openai", models: ["gpt-x", "gpt-y"] },
    ],
    ...extra,
  };
}

describe("routing", () => {
  it("shows a 404 page for unknown routes", async () => {
    mockApi({});
    renderApp("/a/b/c/d/e");
    expect(await screen.findByTestId("not-found")).toBeTruthy();
    expect(screen.getByRole("heading", { name: "Page not found" })).toBeTruthy();
  });

  it("shows a 404 page when the API answers 404 for an environment", async () => {
    mockApi({ "GET /api/v1/environments/{owner}/{name}": problem(404, "environment-not-found") });
    renderApp("/nobody/nothing");
    expect(await screen.findByTestId("not-found")).toBeTruthy();
  });

  it("shows a 404 page for an unknown owner", async () => {
    mockApi({ "GET /api/v1/environments": { items: [], total: 0, page: 1, per_page: 30 } });
    renderApp("/ghost");
    expect(await screen.findByTestId("not-found")).toBeTruthy();
  });

  it("shows a 404 page for an unknown evaluation", async () => {
    mockApi({});
    renderApp("/evals/nope");
    expect(await screen.findByTestId("not-found")).toBeTruthy();
  });
});

describe("environment page", () => {
  it("renders README, metadata, install snippets, downloads and versions", async () => {
    mockApi(envRoutes());
    renderApp("/alice/gsm8k");
    expect(await screen.findByTestId("env-title")).toBeTruthy();
    const readme = await screen.findByTestId("readme");
    expect(within(readme).getByRole("heading", { name: "GSM8K" })).toBeTruthy();
    expect(readme.querySelector("table")).not.toBeNull();
    expect(screen.getByTestId("env-license").textContent).toBe("MIT");
    expect(screen.getByTestId("copy-install-pip")).toBeTruthy();
    expect(screen.getByTestId("install-envhub").textContent).toContain("envhub install alice/gsm8k");
    expect(await screen.findByRole("img", { name: /Downloads over the last 30 days: 8 in total/ })).toBeTruthy();
    // anonymous: the star control leads to sign-in
    expect(screen.getByTestId("star-button").getAttribute("href")).toBe("/login?next=%2Falice%2Fgsm8k");

    fireEvent.click(screen.getByRole("tab", { name: /Versions/ }));
    const rows = await screen.findAllByTestId("version-row");
    expect(rows).toHaveLength(2);
    expect(within(rows[1]).getByTestId("yanked-badge")).toBeTruthy();
    expect(within(rows[0]).getByText("0123456789ab")).toBeTruthy();
  });

  it("pins a version from /v/:version and flags a yanked one", async () => {
    mockApi(envRoutes());
    renderApp("/alice/gsm8k/v/0.1.0");
    expect(await screen.findByTestId("yanked-banner")).toBeTruthy();
    expect(screen.getByTestId("env-version").textContent).toContain("0.1.0");
  });

  it("404s for a version that does not exist", async () => {
    mockApi(envRoutes());
    renderApp("/alice/gsm8k/v/9.9.9");
    expect(await screen.findByTestId("not-found")).toBeTruthy();
  });

  it("shows the leaderboard with a CI chart", async () => {
    mockApi(envRoutes());
    renderApp("/alice/gsm8k?tab=leaderboard");
    const rows = await screen.findAllByTestId("leaderboard-row");
    expect(rows.map((r) => within(r).getByTestId("leaderboard-rank").textContent)).toEqual(["1–2", "1–2"]);
    expect(screen.getAllByTestId("ci-bar")).toHaveLength(2);
  });

  it("lets a signed-in user star it (with the CSRF token)", async () => {
    const api = mockApi(envRoutes({ "PUT /api/v1/environments/alice/gsm8k/star": { stars: 8, starred: true } }));
    const { setCsrfToken } = await import("./api/client");
    setCsrfToken("tok");
    renderApp("/alice/gsm8k", user);
    const star = await screen.findByTestId("star-button");
    expect(star.getAttribute("aria-pressed")).toBe("false");
    await act(async () => {
      fireEvent.click(star);
    });
    await waitFor(() => expect(screen.getByTestId("star-button").getAttribute("aria-pressed")).toBe("true"));
    expect(screen.getByTestId("star-count").textContent).toBe("8");
    const put = api.calls.find((c) => c.method === "PUT")!;
    expect(put.headers.get("X-CSRF-Token")).toBe("tok");
  });

  it("runs an evaluation from the form and goes to its page", async () => {
    const api = mockApi(
      envRoutes({
        "POST /api/v1/evals": () => json({ id: "ev-42" }, 201),
        "GET /api/v1/evals/ev-42": { ...(await import("./test/fixtures")).evalRun, id: "ev-42" },
        "GET /api/v1/evals/ev-42/logs": (await import("./test/fixtures")).evalLog,
        "GET /api/v1/evals/ev-42/samples": { items: [], total: 0, page: 1, per_page: 20 },
      }),
    );
    renderApp("/alice/gsm8k?tab=evals", user);
    const provider = await screen.findByTestId("run-eval-provider");
    fireEvent.change(provider, { target: { value: "openai" } });
    fireEvent.change(screen.getByTestId("run-eval-model"), { target: { value: "gpt-y" } });
    fireEvent.change(screen.getByTestId("run-eval-examples"), { target: { value: "20" } });
    fireEvent.change(screen.getByTestId("run-eval-rollouts"), { target: { value: "3" } });
    fireEvent.change(screen.getByTestId("run-eval-temperature"), { target: { value: "0.2" } });
    fireEvent.change(screen.getByTestId("run-eval-max-tokens"), { target: { value: "512" } });
    await act(async () => {
      fireEvent.click(screen.getByTestId("run-eval-submit"));
    });
    await waitFor(() => expect(screen.getByTestId("location").textContent).toBe("/evals/ev-42"));
    const post = api.calls.find((c) => c.method === "POST")!;
    expect(post.body).toEqual({
      environment: "alice/gsm8k",
      version: "0.2.0",
      model: "openai/gpt-y",
      num_examples: 20,
      rollouts_per_example: 3,
      sampling_args: { temperature: 0.2, max_tokens: 512 },
    });
    expect(await screen.findByTestId("eval-status")).toBeTruthy();
  });

  it("asks anonymous users to sign in before running an evaluation", async () => {
    mockApi(envRoutes());
    renderApp("/alice/gsm8k?tab=evals");
    const panel = await screen.findByRole("tabpanel");
    const signIn = await within(panel).findByRole("link", { name: "Sign in" });
    expect(signIn.getAttribute("href")).toBe("/login?next=%2Falice%2Fgsm8k%3Ftab%3Devals");
    expect(screen.getByTestId("sign-in-link")).toBeTruthy();
    expect(screen.queryByTestId("run-eval-form")).toBeNull();
  });
});

describe("owner page", () => {
  it("shows an organization with its environments", async () => {
    const api = mockApi({
      "GET /api/v1/owners/acme": { name: "acme", kind: "org", display_name: "ACME Research", created_at: "2025-01-01T00:00:00Z" },
      "GET /api/v1/environments": { items: [environment(1, { owner: "acme", name: "wordle" })], total: 1, page: 1, per_page: 30 },
    });
    renderApp("/acme");
    expect((await screen.findByTestId("owner-title")).textContent).toBe("ACME Research");
    expect(screen.getByRole("link", { name: "Members" }).getAttribute("href")).toBe("/orgs/acme");
    expect(await screen.findAllByTestId("env-row")).toHaveLength(1);
    expect(api.calls.find((c) => c.url.pathname === "/api/v1/environments")!.url.searchParams.get("owner")).toBe("acme");
  });
});

describe("user profile organizations", () => {
  const owner = (name: string) => ({ name, kind: "user", display_name: null, created_at: "2025-01-01T00:00:00Z" });
  const noEnvs = { items: [], total: 0, page: 1, per_page: 30 };

  it("links the organizations a user shows, and nothing else", async () => {
    const api = mockApi({
      "GET /api/v1/owners/bob": owner("bob"),
      "GET /api/v1/environments": noEnvs,
      "GET /api/v1/users/bob/orgs": [
        { name: "acme", display_name: "ACME Research" },
        { name: "lab", display_name: null },
      ],
    });
    renderApp("/bob");
    const links = await screen.findAllByTestId("owner-org");
    expect(links.map((a) => [a.textContent?.slice(1), a.getAttribute("href")])).toEqual([
      ["ACME Research", "/acme"],
      ["lab", "/lab"],
    ]);
    expect(api.calls.some((c) => c.url.pathname === "/api/v1/orgs")).toBe(false); // never the private list
    expect(screen.queryByTestId("edit-profile")).toBeNull();
  });

  it("shows no organizations section for others when none is public, and a hint on your own page", async () => {
    mockApi({ "GET /api/v1/owners/{name}": ({ params }: { params: Record<string, string> }) => owner(params.name), "GET /api/v1/environments": noEnvs, "GET /api/v1/users/{name}/orgs": [] });
    const { unmount } = renderApp("/bob", user);
    await screen.findByTestId("owner-title");
    await waitFor(() => expect(screen.queryByRole("heading", { name: "Organizations" })).toBeNull());
    unmount();
    renderApp("/alice", user);
    expect(await screen.findByRole("heading", { name: "Organizations" })).toBeTruthy();
    expect(screen.getByTestId("edit-profile").getAttribute("href")).toBe("/settings/account");
  });
});
