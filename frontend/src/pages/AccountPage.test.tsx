import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { setCsrfToken } from "../api/client";
import type { Org } from "../api/types";
import { user } from "../test/fixtures";
import { json, mockApi, problem } from "../test/mockApi";
import { renderApp } from "../test/render";

const org = (name: string, over: Partial<Org> = {}): Org => ({
  id: `id-${name}`,
  name,
  display_name: null,
  created_at: "2025-01-01T00:00:00Z",
  your_role: "owner",
  members: [{ username: "alice", role: "owner" }],
  membership_public: false,
  ...over,
});

const session = { user, csrf_token: "csrf-1" };

async function submit(testId: string) {
  await act(async () => {
    fireEvent.click(screen.getByTestId(testId));
  });
}

describe("account settings", () => {
  it("sends anonymous visitors to sign in", async () => {
    mockApi({});
    renderApp("/settings/account");
    await waitFor(() => expect(screen.getByTestId("location").textContent).toBe("/login?next=%2Fsettings%2Faccount"));
  });

  it("/settings opens the account page", async () => {
    mockApi({ "GET /api/v1/orgs": [] });
    renderApp("/settings", user);
    await waitFor(() => expect(screen.getByTestId("location").textContent).toBe("/settings/account"));
    expect(within(screen.getByTestId("settings-nav")).getByRole("link", { name: "API tokens" }).getAttribute("href")).toBe("/settings/tokens");
  });

  it("edits the e-mail and shows the hub's refusal next to the field", async () => {
    let email: string | null = user.email;
    const api = mockApi({
      "GET /api/v1/orgs": [],
      "GET /api/v1/session": () => ({ ...session, user: { ...user, email } }),
      "PATCH /api/v1/users/me": ({ body }: { body: unknown }) => {
        const next = (body as { email: string | null }).email;
        if (next && !next.includes("@")) return problem(422, "invalid-email", `'${next}' is not an e-mail address.`);
        email = next;
        return { ...user, email };
      },
    });
    setCsrfToken("csrf-1");
    renderApp("/settings/account", user);
    const input = (await screen.findByTestId("profile-email")) as HTMLInputElement;
    expect(input.value).toBe("alice@example.com");

    fireEvent.change(input, { target: { value: "nope" } });
    await submit("profile-save");
    const error = await screen.findByTestId("profile-email-error");
    expect(error.textContent).toContain("is not an e-mail address");
    expect(input.getAttribute("aria-invalid")).toBe("true");
    expect(input.getAttribute("aria-describedby")).toContain(error.id);
    await waitFor(() => expect(document.activeElement).toBe(input));

    fireEvent.change(input, { target: { value: "alice@lab.example" } });
    await submit("profile-save");
    expect((await screen.findByTestId("profile-saved")).textContent).toBe("Saved.");
    expect(screen.queryByTestId("profile-email-error")).toBeNull();
    const patch = api.calls.filter((c) => c.method === "PATCH").at(-1)!;
    expect(patch.body).toEqual({ email: "alice@lab.example" });
    expect(patch.headers.get("X-CSRF-Token")).toBe("csrf-1");
  });

  it("changes the password: checks the confirmation locally, the current password on the hub", async () => {
    const api = mockApi({
      "GET /api/v1/orgs": [],
      "PUT /api/v1/users/me/password": ({ body }: { body: unknown }) =>
        (body as { current_password: string }).current_password === "right-password" ? new Response(null, { status: 204 }) : problem(422, "wrong-password", "The current password is wrong."),
    });
    renderApp("/settings/account", user);
    const current = await screen.findByTestId("password-current");
    fireEvent.change(current, { target: { value: "wrong-password" } });
    fireEvent.change(screen.getByTestId("password-new"), { target: { value: "short" } });
    fireEvent.change(screen.getByTestId("password-confirm"), { target: { value: "different" } });
    await submit("password-submit");
    expect(screen.getByTestId("password-new-error").textContent).toContain("at least 8 characters");
    expect(screen.getByTestId("password-confirm-error").textContent).toContain("do not match");
    expect(api.calls.some((c) => c.method === "PUT")).toBe(false);
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId("password-new")));

    fireEvent.change(screen.getByTestId("password-new"), { target: { value: "a-new-password" } });
    fireEvent.change(screen.getByTestId("password-confirm"), { target: { value: "a-new-password" } });
    await submit("password-submit");
    expect((await screen.findByTestId("password-current-error")).textContent).toContain("current password is wrong");
    expect(screen.queryByTestId("password-new-error")).toBeNull();
    expect(current.getAttribute("aria-invalid")).toBe("true");

    fireEvent.change(current, { target: { value: "right-password" } });
    await submit("password-submit");
    expect((await screen.findByTestId("password-changed")).textContent).toContain("Password changed");
    expect(api.calls.filter((c) => c.method === "PUT").at(-1)!.body).toEqual({ current_password: "right-password", new_password: "a-new-password" });
    expect((screen.getByTestId("password-current") as HTMLInputElement).value).toBe("");
  });

  it("lists my organizations with my role, creates one, and shows one on my profile", async () => {
    let orgs = [org("acme", { display_name: "ACME Research", your_role: "write" })];
    const api = mockApi({
      "GET /api/v1/orgs": () => orgs,
      "POST /api/v1/orgs": ({ body }: { body: unknown }) => {
        const { name, display_name } = body as { name: string; display_name: string | null };
        if (name === "acme") return problem(409, "name-taken", "The name 'acme' is already taken.");
        const made = org(name, { display_name });
        orgs = [...orgs, made];
        return json(made, 201);
      },
      "PUT /api/v1/orgs/{name}/membership": ({ params, body }: { params: Record<string, string>; body: unknown }) => ({
        ...orgs.find((o) => o.name === params.name)!,
        membership_public: (body as { public: boolean }).public,
      }),
    });
    renderApp("/settings/account", user);
    const rows = await screen.findAllByTestId("my-org-row");
    expect(rows).toHaveLength(1);
    expect(within(rows[0]).getByTestId("my-org-role").textContent).toBe("write");
    expect(within(rows[0]).getByRole("link", { name: "ACME Research" }).getAttribute("href")).toBe("/orgs/acme");

    await submit("org-create");
    expect(screen.getByTestId("org-name-error").textContent).toContain("Enter a name");
    expect(api.calls.some((c) => c.method === "POST")).toBe(false);

    fireEvent.change(screen.getByTestId("org-name"), { target: { value: "acme" } });
    await submit("org-create");
    expect((await screen.findByTestId("org-name-error")).textContent).toContain("already taken");
    expect(screen.getByTestId("org-name").getAttribute("aria-invalid")).toBe("true");

    fireEvent.change(screen.getByTestId("org-name"), { target: { value: "new-lab" } });
    fireEvent.change(screen.getByTestId("org-display-name"), { target: { value: "New Lab" } });
    await submit("org-create");
    expect((await screen.findByTestId("org-created")).textContent).toContain("new-lab");
    expect(api.calls.filter((c) => c.method === "POST").at(-1)!.body).toEqual({ name: "new-lab", display_name: "New Lab" });
    const after = screen.getAllByTestId("my-org-row");
    expect(after.map((r) => r.getAttribute("data-org"))).toEqual(["acme", "new-lab"]);
    expect(within(after[1]).getByTestId("my-org-role").textContent).toBe("owner");

    const toggle = within(after[0]).getByTestId("org-public-toggle") as HTMLInputElement;
    expect(toggle.checked).toBe(false);
    await act(async () => {
      fireEvent.click(toggle);
    });
    await waitFor(() => expect((within(screen.getAllByTestId("my-org-row")[0]).getByTestId("org-public-toggle") as HTMLInputElement).checked).toBe(true));
    expect(api.calls.find((c) => c.method === "PUT")!.body).toEqual({ public: true });
  });
});
