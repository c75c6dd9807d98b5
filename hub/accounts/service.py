"""Account use cases: users, organizations, memberships, tokens, and who may do what."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.accounts.models import (
    ApiToken,
    Membership,
    Namespace,
    NamespaceKind,
    Organization,
    Role,
    TokenScope,
    User,
)
from hub.accounts.security import hash_password, keyed_hash, new_token, verify_password
from hub.kit.db import utcnow
from hub.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from hub.kit.names import validate_owner_name


@dataclass(frozen=True)
class Principal:
    """Who is calling, and with which token scope (None = a signed-in browser: full rights)."""

    user: User
    scope: TokenScope | None = None
    token_id: uuid.UUID | None = None
    # When the calling token expires (None: a browser session, or a token that never does).
    token_expires_at: datetime | None = None

    @property
    def user_id(self) -> uuid.UUID:
        return self.user.id

    def can_use_scope(self, needed: TokenScope) -> bool:
        if self.scope is None:
            return True
        order = [TokenScope.READ, TokenScope.WRITE, TokenScope.ADMIN]
        return order.index(self.scope) >= order.index(needed)

    def require_scope(self, needed: TokenScope) -> None:
        if not self.can_use_scope(needed):
            raise Forbidden(
                f"This token has scope '{self.scope}', this action needs '{needed}'."
                " Create a token with a wider scope (envhub admin create-token --scope).",
                code="insufficient-scope",
            )


def _claim_namespace(db: Session, name: str, kind: NamespaceKind) -> Namespace:
    validate_owner_name(name)
    ns = Namespace(name=name, kind=kind)
    try:
        with db.begin_nested():
            db.add(ns)
            db.flush()
    except IntegrityError:
        raise Conflict(f"The name '{name}' is already taken.", code="name-taken") from None
    return ns


def create_user(
    db: Session, username: str, *, email: str | None = None, password: str | None = None,
    is_admin: bool = False,
) -> User:
    username = username.lower()
    ns = _claim_namespace(db, username, NamespaceKind.USER)
    user = User(
        id=ns.id, username=username, email=email, is_admin=is_admin,
        password_hash=hash_password(password) if password else None,
    )
    db.add(user)
    db.flush()
    return user


def set_password(db: Session, user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"Passwords need at least {MIN_PASSWORD} characters.",
                           code="weak-password")
    user.password_hash = hash_password(password)
    db.flush()


MIN_PASSWORD = 8
# Deliberately loose: one "@", no spaces, a dot in the domain. Delivery is the real check.
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def set_email(db: Session, user: User, email: str | None) -> None:
    """Set or (with None or blank) clear the user's e-mail address."""
    email = (email or "").strip() or None
    if email is not None and (len(email) > 254 or not _EMAIL_RE.match(email)):
        raise InvalidInput(f"'{email}' is not an e-mail address.", code="invalid-email")
    user.email = email
    db.flush()


def change_password(db: Session, user: User, current: str, new: str) -> None:
    """Replace the password, proving the current one first (a stolen session is not enough)."""
    if not verify_password(user.password_hash, current):
        raise InvalidInput("The current password is wrong.", code="wrong-password")
    if current == new:
        raise InvalidInput("The new password is the current one.", code="same-password")
    set_password(db, user, new)


def get_user(db: Session, username: str) -> User:
    user = db.scalar(select(User).where(User.username == username.lower()))
    if user is None:
        raise NotFound(f"No user named '{username}'.", code="user-not-found")
    return user


def create_org(
    db: Session, name: str, owner: User, display_name: str | None = None
) -> Organization:
    name = name.strip().lower()
    ns = _claim_namespace(db, name, NamespaceKind.ORG)
    org = Organization(id=ns.id, name=name, display_name=(display_name or "").strip() or None)
    db.add(org)
    db.flush()
    db.add(Membership(org_id=org.id, user_id=owner.id, role=Role.OWNER))
    db.flush()
    return org


def get_org(db: Session, name: str) -> Organization:
    org = db.scalar(select(Organization).where(Organization.name == name.lower()))
    if org is None:
        raise NotFound(f"No organization named '{name}'.", code="org-not-found")
    return org


def get_namespace(db: Session, name: str) -> Namespace:
    ns = db.scalar(select(Namespace).where(Namespace.name == name.lower()))
    if ns is None:
        raise NotFound(f"No user or organization named '{name}'.", code="owner-not-found")
    return ns


def namespace_name(db: Session, namespace_id: uuid.UUID) -> str:
    ns = db.get(Namespace, namespace_id)
    if ns is None:
        raise NotFound("Unknown owner.", code="owner-not-found")
    return ns.name


def role_in(db: Session, namespace_id: uuid.UUID, user: User | None) -> Role | None:
    """The user's role over everything a namespace owns (None = no access beyond public)."""
    if user is None:
        return None
    if user.is_admin or user.id == namespace_id:
        return Role.OWNER
    membership = db.scalar(
        select(Membership).where(Membership.org_id == namespace_id, Membership.user_id == user.id)
    )
    return membership.role if membership else None


def readable_namespace_ids(db: Session, user: User | None) -> list[uuid.UUID] | None:
    """Namespaces whose private things the user may read; None means all (site admin)."""
    if user is None:
        return []
    if user.is_admin:
        return None
    org_ids = db.scalars(select(Membership.org_id).where(Membership.user_id == user.id)).all()
    return [user.id, *org_ids]


def list_user_orgs(db: Session, user: User) -> list[tuple[Organization, Role]]:
    rows = db.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user.id)
        .order_by(Organization.name)
    ).all()
    return [(org, role) for org, role in rows]


def membership_of(db: Session, org: Organization, user: User | None) -> Membership | None:
    if user is None:
        return None
    return db.scalar(
        select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id)
    )


def set_membership_public(db: Session, org: Organization, user: User, public: bool) -> None:
    """A member shows (or hides) their own membership on their public profile."""
    membership = membership_of(db, org, user)
    if membership is None:
        raise NotFound(f"You are not a member of '{org.name}'.", code="member-not-found")
    membership.public = public
    db.flush()


def list_public_orgs(db: Session, user: User) -> list[Organization]:
    """The organizations a user chose to show on their profile (nothing else leaks)."""
    return list(db.scalars(
        select(Organization)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user.id, Membership.public.is_(True))
        .order_by(Organization.name)
    ))


def list_members(db: Session, org: Organization) -> list[tuple[User, Role]]:
    rows = db.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org.id)
        .order_by(User.username)
    ).all()
    return [(user, role) for user, role in rows]


def set_member(db: Session, org: Organization, actor: User, username: str, role: Role) -> None:
    """Add a member or change a member's role. Owners may do anything; admins manage the
    read, write and admin roles, but may neither grant the owner role nor change an owner
    (see `_require_owner_for`)."""
    actor_role = _require_org_admin(db, org, actor)
    user = get_user(db, username)
    membership = db.scalar(
        select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id)
    )
    _require_owner_for(actor_role, membership.role if membership else None, role)
    if membership is None:
        db.add(Membership(org_id=org.id, user_id=user.id, role=role))
    else:
        if membership.role == Role.OWNER and role != Role.OWNER:
            _refuse_last_owner(db, org)
        membership.role = role
    db.flush()


def remove_member(db: Session, org: Organization, actor: User, username: str) -> None:
    """Remove a member. Anyone may leave (but not the last owner); removing someone else
    takes an admin, and removing an owner takes an owner."""
    user = get_user(db, username)
    actor_role = _require_org_admin(db, org, actor) if user.id != actor.id else None
    membership = db.scalar(
        select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id)
    )
    if membership is None:
        raise NotFound(f"'{username}' is not a member of '{org.name}'.", code="member-not-found")
    if actor_role is not None:
        _require_owner_for(actor_role, membership.role, None)
    if membership.role == Role.OWNER:
        _refuse_last_owner(db, org)
    db.delete(membership)
    db.flush()


def _require_org_admin(db: Session, org: Organization, actor: User) -> Role:
    role = role_in(db, org.id, actor)
    if role is None:
        raise NotFound(f"No organization named '{org.name}'.", code="org-not-found")
    if not role.at_least(Role.ADMIN):
        raise Forbidden("Only organization owners and admins manage members.", code="forbidden")
    return role


def _require_owner_for(actor_role: Role, current: Role | None, new: Role | None) -> None:
    """Only owners (and site admins) grant or revoke the owner role or touch an owner.

    An admin manages everything strictly below owner: adds members as read, write or
    admin, changes those roles (another admin's and their own included) and removes such
    members. `current` is the target's role now (None: not a member yet), `new` the role
    asked for (None: removal).
    """
    if actor_role == Role.OWNER:
        return
    if current == Role.OWNER or new == Role.OWNER:
        raise Forbidden(
            "Only organization owners grant the owner role or change or remove an owner.",
            code="owner-required",
        )


def _refuse_last_owner(db: Session, org: Organization) -> None:
    owners = db.scalars(
        select(Membership).where(Membership.org_id == org.id, Membership.role == Role.OWNER)
    ).all()
    if len(owners) <= 1:
        raise Conflict("An organization needs at least one owner.", code="last-owner")


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def create_token(
    db: Session, user: User, name: str, scope: TokenScope, *, secret_key: str,
    expires_days: int | None = None, not_after: datetime | None = None,
) -> IssuedToken:
    """Issue a token. `not_after` caps its expiry (a token minted by a token must not
    outlive it): the new token expires at the earlier of the two, and has no expiry only
    if neither sets one."""
    if expires_days is not None and expires_days <= 0:
        raise InvalidInput("expires_days must be positive.", code="invalid-expiry")
    secret = new_token()
    token = ApiToken(
        user_id=user.id, name=name, scope=scope, prefix=secret[:12],
        token_hash=keyed_hash(secret, secret_key),
        expires_at=_earliest(
            utcnow() + timedelta(days=expires_days) if expires_days else None, not_after),
    )
    db.add(token)
    db.flush()
    return IssuedToken(token=token, secret=secret)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)


def list_tokens(db: Session, user: User) -> list[ApiToken]:
    return list(
        db.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
        )
    )


def revoke_token(db: Session, user: User, token_id: uuid.UUID) -> None:
    token = db.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound("No such token.", code="token-not-found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    db.flush()


# Writing last_used_at on every request would turn reads into writes; a minute is precise enough.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def authenticate_token(db: Session, secret: str, *, secret_key: str) -> Principal:
    token = db.scalar(select(ApiToken).where(ApiToken.token_hash == keyed_hash(secret, secret_key)))
    now = utcnow()
    if token is None or token.revoked_at is not None:
        raise Unauthorized(
            "The token is unknown or revoked. Create a new one (envhub admin create-token, or"
            " the web settings page) and run `envhub login`.",
            code="invalid-token",
        )
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthorized("The token has expired; create a new one.", code="token-expired")
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        token.last_used_at = now
    user = db.get(User, token.user_id)
    assert user is not None  # FK cascade guarantees it
    return Principal(user=user, scope=token.scope, token_id=token.id,
                     token_expires_at=token.expires_at)


def token_is_usable(token: ApiToken, now: datetime) -> bool:
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)
