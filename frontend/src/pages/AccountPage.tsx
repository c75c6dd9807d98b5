import { useState, type FormEvent } from "react";
import { Link, Navigate } from "react-router-dom";
import { changePassword, createOrg, listMyOrgs, setMembershipPublic, updateProfile } from "../api/accounts";
import { errorMessage } from "../api/client";
import type { Org, User } from "../api/types";
import { Empty, ErrorMessage, Loading } from "../components/Feedback";
import { FormField } from "../components/FormField";
import { SettingsNav } from "../components/SettingsNav";
import { apiFieldErrors, hasErrors, type FieldErrors } from "../lib/formErrors";
import { useSession } from "../lib/session";
import { useAsync } from "../lib/useAsync";
import { useFocusInvalid } from "../lib/useFocusInvalid";
import { useTitle } from "../lib/useTitle";

/** The hub's rule (hub.accounts.service.MIN_PASSWORD); the hub checks it again. */
const MIN_PASSWORD = 8;

function FormAlert({ message, testId }: { message?: string; testId?: string }) {
  if (!message) return null;
  return (
    <p className="alert alert-error" role="alert" data-testid={testId}>
      {message}
    </p>
  );
}

function Saved({ message, testId }: { message: string | null; testId: string }) {
  // Always rendered, so screen readers announce the text when it appears.
  return (
    <p className="form-status" role="status" data-testid={message ? testId : undefined}>
      {message}
    </p>
  );
}

function ProfileForm({ user, onSaved }: { user: User; onSaved: () => Promise<void> }) {
  const [email, setEmail] = useState(user.email ?? "");
  const [errors, setErrors] = useState<FieldErrors<"email">>({});
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const { formRef, focusInvalid } = useFocusInvalid();

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setErrors({});
    setSaved(null);
    setBusy(true);
    try {
      const updated = await updateProfile({ email: email.trim() || null });
      setEmail(updated.email ?? "");
      await onSaved();
      setSaved(updated.email ? "Saved." : "Saved. Your e-mail address was removed.");
    } catch (err) {
      setErrors(apiFieldErrors(err, { "invalid-email": "email" }, { email: "email" }));
      focusInvalid();
    } finally {
      setBusy(false);
    }
  }

  return (
    <form ref={formRef} className="form card" onSubmit={onSubmit} noValidate aria-labelledby="profile-title" data-testid="profile-form">
      <h2 id="profile-title" className="card-title">
        Profile
      </h2>
      <dl className="facts">
        <dt>Username</dt>
        <dd>
          <Link to={`/${encodeURIComponent(user.username)}`} data-testid="profile-link">
            {user.username}
          </Link>{" "}
          <span className="muted small">(your public profile)</span>
        </dd>
      </dl>
      <FormField
        id="profile-email"
        label="E-mail"
        type="email"
        autoComplete="email"
        maxLength={254}
        value={email}
        onChange={(e) => setEmail(e.target.value)}
        hint="Private: only you and site admins see it. Leave empty to remove it."
        error={errors.email}
        testId="profile-email"
      />
      <FormAlert message={errors.form} testId="profile-error" />
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="profile-save">
          {busy ? "Saving…" : "Save profile"}
        </button>
        <Saved message={saved} testId="profile-saved" />
      </div>
    </form>
  );
}

type PasswordField = "current" | "next" | "confirm";

function PasswordForm() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<FieldErrors<PasswordField>>({});
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const { formRef, focusInvalid } = useFocusInvalid();

  function check(): FieldErrors<PasswordField> {
    const out: FieldErrors<PasswordField> = {};
    if (!current) out.current = "Enter your current password.";
    if (next.length < MIN_PASSWORD) out.next = `Use at least ${MIN_PASSWORD} characters.`;
    else if (next === current) out.next = "The new password must differ from the current one.";
    if (confirm !== next) out.confirm = "The two new passwords do not match.";
    return out;
  }

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setDone(null);
    const local = check();
    setErrors(local);
    if (hasErrors(local)) {
      focusInvalid();
      return;
    }
    setBusy(true);
    try {
      await changePassword(current, next);
      setCurrent("");
      setNext("");
      setConfirm("");
      setDone("Password changed. Other browsers signed in to your account were signed out; API tokens keep working.");
    } catch (err) {
      setErrors(apiFieldErrors(err, { "wrong-password": "current", "weak-password": "next", "same-password": "next" }, { current_password: "current", new_password: "next" }));
      focusInvalid();
    } finally {
      setBusy(false);
    }
  }

  return (
    <form ref={formRef} className="form card" onSubmit={onSubmit} noValidate aria-labelledby="password-title" data-testid="password-form">
      <h2 id="password-title" className="card-title">
        Change password
      </h2>
      <div className="form-grid">
        <FormField id="password-current" label="Current password" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} error={errors.current} testId="password-current" />
        <FormField id="password-new" label="New password" type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} hint={`At least ${MIN_PASSWORD} characters.`} error={errors.next} testId="password-new" />
        <FormField id="password-confirm" label="Repeat new password" type="password" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} error={errors.confirm} testId="password-confirm" />
      </div>
      <FormAlert message={errors.form} testId="password-error" />
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="password-submit">
          {busy ? "Changing…" : "Change password"}
        </button>
        <Saved message={done} testId="password-changed" />
      </div>
    </form>
  );
}

function OrgRow({ org, onChanged }: { org: Org; onChanged: (org: Org) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const shown = !!org.membership_public;
  const toggleId = `org-public-${org.name}`;

  async function toggle() {
    setBusy(true);
    setError(null);
    try {
      onChanged(await setMembershipPublic(org.name, !shown));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <tr data-testid="my-org-row" data-org={org.name}>
      <th scope="row">
        <Link to={`/orgs/${encodeURIComponent(org.name)}`}>{org.display_name || org.name}</Link>
        {org.display_name && <span className="muted small org-slug">{org.name}</span>}
      </th>
      <td>
        <span className="badge badge-muted" data-testid="my-org-role">
          {org.your_role ?? "member"}
        </span>
      </td>
      <td>
        <label className="check" htmlFor={toggleId}>
          <input id={toggleId} type="checkbox" checked={shown} disabled={busy} onChange={() => void toggle()} data-testid="org-public-toggle" />
          <span>
            Show on my profile<span className="sr-only"> ({org.name})</span>
          </span>
        </label>
        {error && (
          <p className="field-error" role="alert">
            {error}
          </p>
        )}
      </td>
    </tr>
  );
}

function CreateOrgForm({ onCreated }: { onCreated: (org: Org) => void }) {
  const [name, setName] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [errors, setErrors] = useState<FieldErrors<"name" | "displayName">>({});
  const [created, setCreated] = useState<Org | null>(null);
  const [busy, setBusy] = useState(false);
  const { formRef, focusInvalid } = useFocusInvalid();

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setCreated(null);
    if (!name.trim()) {
      setErrors({ name: "Enter a name for the organization." });
      focusInvalid();
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const org = await createOrg(name.trim(), displayName.trim() || null);
      setName("");
      setDisplayName("");
      setCreated(org);
      onCreated(org);
    } catch (err) {
      setErrors(apiFieldErrors(err, { "invalid-name": "name", "reserved-name": "name", "name-taken": "name" }, { name: "name", display_name: "displayName" }));
      focusInvalid();
    } finally {
      setBusy(false);
    }
  }

  return (
    <form ref={formRef} className="form card" onSubmit={onSubmit} noValidate aria-labelledby="new-org-title" data-testid="org-form">
      <h3 id="new-org-title" className="card-title">
        New organization
      </h3>
      <div className="form-grid">
        <FormField
          id="org-name"
          label="Name"
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          maxLength={39}
          value={name}
          onChange={(e) => setName(e.target.value)}
          hint="Lowercase letters, digits and '-'; users and organizations share one namespace. It is the owner part of its environments' names."
          error={errors.name}
          testId="org-name"
        />
        <FormField id="org-display-name" label="Display name (optional)" autoComplete="off" maxLength={128} value={displayName} onChange={(e) => setDisplayName(e.target.value)} error={errors.displayName} testId="org-display-name" />
      </div>
      <FormAlert message={errors.form} testId="org-error" />
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={busy} data-testid="org-create">
          {busy ? "Creating…" : "Create organization"}
        </button>
        <p className="form-status" role="status">
          {created && (
            <span data-testid="org-created">
              Created <Link to={`/orgs/${encodeURIComponent(created.name)}`}>{created.name}</Link>. You are its owner.
            </span>
          )}
        </p>
      </div>
    </form>
  );
}

function Organizations({ username }: { username: string }) {
  const orgs = useAsync(() => listMyOrgs(), [username]);
  const replace = (org: Org) => orgs.setData((prev) => prev?.map((o) => (o.name === org.name ? org : o)));
  const add = (org: Org) => orgs.setData((prev) => [...(prev ?? []), org].sort((a, b) => a.name.localeCompare(b.name)));

  return (
    <section aria-labelledby="orgs-title" className="settings-section">
      <h2 id="orgs-title">Organizations</h2>
      <p className="muted small">Memberships are private. Tick “Show on my profile” to list an organization on your public profile.</p>
      {orgs.error ? (
        <ErrorMessage error={orgs.error} onRetry={orgs.reload} />
      ) : !orgs.data ? (
        <Loading />
      ) : orgs.data.length === 0 ? (
        <Empty>You are not a member of any organization yet.</Empty>
      ) : (
        <div className="table-wrap" role="region" aria-label="Your organizations" tabIndex={0}>
          <table className="table" data-testid="my-orgs-table">
            <thead>
              <tr>
                <th scope="col">Organization</th>
                <th scope="col">Your role</th>
                <th scope="col">Profile</th>
              </tr>
            </thead>
            <tbody>
              {orgs.data.map((o) => (
                <OrgRow key={o.name} org={o} onChanged={replace} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <CreateOrgForm onCreated={add} />
    </section>
  );
}

/** `/settings/account`: profile (e-mail), password, organizations (list, create, show on profile). */
export default function AccountPage() {
  useTitle("Account settings");
  const { user, loading, refresh } = useSession();
  if (loading) return <Loading />;
  if (!user) return <Navigate to={`/login?next=${encodeURIComponent("/settings/account")}`} replace />;

  return (
    <div className="settings-page">
      <h1>Account settings</h1>
      <SettingsNav />
      <ProfileForm key={user.username} user={user} onSaved={refresh} />
      <PasswordForm />
      <Organizations username={user.username} />
    </div>
  );
}
