import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { setCsrfToken } from "../api/client";
import type { Token } from "../api/types";
import { user } from "../test/fixtures";
import { json, mockApi } from "../test/mockApi";
import { renderApp } from "../test/render";

const token: Token = { id: "t1", name: "ci", prefix: "envhub_ab12", scope: "read", created_at: "2025-01-01T00:00:00Z", expires_at: null, last_used_at: null, revoked_at: null };

describe("tokens page", () => {
  it("sends anonymous visitors to sign in", async () => {
    mockApi({});
    renderApp("/settings/tokens");
    await waitFor(() => expect(screen.getByTestId("location").textContent).toBe("/login?next=%2Fsettings%2Ftokens"));
  });

  it("creates a token with scope and expiry, shows it once, and revokes", async () => {
    let tokens = [token];
    const api = mockApi({
      "GET /api/v1/tokens": () => tokens,
      "POST /api/v1/tokens": ({ body }: { body: unknown }) => json({ ...token, id: "t2", ...(body as object), token: "envhub_secret_value", expires_at: "2025-02-01T00:00:00Z" }, 201),
      "DELETE /api/v1/tokens/{id}": () => {
        tokens = [{ ...token, revoked_at: "2025-01-02T00:00:00Z" }];
        return new Response(null, { status: 204 });
      },
    });
    setCsrfToken("csrf-1");
    renderApp("/settings/tokens", user);
    expect(await screen.findAllByTestId("token-row")).toHaveLength(1);

    fireEvent.change(screen.getByTestId("token-name"), { target: { value: "laptop" } });
    fireEvent.change(screen.getByTestId("token-scope"), { target: { value: "write" } });
    fireEvent.change(screen.getByTestId("token-expiry"), { target: { value: "30" } });
    await act(async () => {
      fireEvent.click(screen.getByTestId("token-create"));
    });
    expect((await screen.findByTestId("new-token")).textContent).toBe("envhub_secret_value");
    expect(screen.getByTestId("copy-token")).toBeTruthy();
    const post = api.calls.find((c) => c.method === "POST")!;
    expect(post.body).toEqual({ name: "laptop", scope: "write", expires_days: 30 });
    expect(post.headers.get("X-CSRF-Token")).toBe("csrf-1");

    fireEvent.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByTestId("new-token")).toBeNull();

    fireEvent.click(screen.getByTestId("revoke-token"));
    await act(async () => {
      fireEvent.click(screen.getByTestId("confirm-revoke"));
    });
    await waitFor(() => expect(within(screen.getByTestId("token-row")).getByTestId("token-state").textContent).toBe("revoked"));
    expect(api.calls.some((c) => c.method === "DELETE" && c.url.pathname === "/api/v1/tokens/t1")).toBe(true);
  });
});
