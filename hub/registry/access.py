"""Who may see and change an environment. Private means invisible: outsiders get 404."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import service as accounts
from hub.accounts.models import Role, TokenScope
from hub.accounts.service import Principal
from hub.kit.errors import Forbidden, NotFound
from hub.kit.names import normalize_project
from hub.registry.models import Environment, Visibility


def env_not_found(owner: str, name: str) -> NotFound:
    return NotFound(
        f"No environment '{owner}/{name}' (or you may not see it). Check the name, or sign in"
        " with a token that can read it.",
        code="environment-not-found",
    )


def role_for(db: Session, env: Environment, principal: Principal | None) -> Role | None:
    return accounts.role_in(db, env.owner_id, principal.user if principal else None)


def can_read(db: Session, env: Environment, principal: Principal | None) -> bool:
    if env.visibility == Visibility.PUBLIC:
        return True
    return role_for(db, env, principal) is not None


def find_env(db: Session, owner: str, name: str) -> Environment | None:
    try:
        ns = accounts.get_namespace(db, owner)
    except NotFound:
        return None
    return db.scalar(
        select(Environment).where(
            Environment.owner_id == ns.id,
            Environment.normalized_name == normalize_project(name),
        )
    )


def readable_env(db: Session, owner: str, name: str, principal: Principal | None) -> Environment:
    env = find_env(db, owner, name)
    if env is None or not can_read(db, env, principal):
        raise env_not_found(owner, name)
    return env


def writable_env(
    db: Session, owner: str, name: str, principal: Principal, needed: Role = Role.WRITE
) -> Environment:
    """Readers who may not write get 403; people who cannot even see it get 404."""
    env = readable_env(db, owner, name, principal)
    require_role(db, env.owner_id, owner, principal, needed)
    return env


def require_role(
    db: Session, owner_id: uuid.UUID, owner: str, principal: Principal, needed: Role
) -> Role:
    principal.require_scope(TokenScope.WRITE)
    role = accounts.role_in(db, owner_id, principal.user)
    if role is None or not role.at_least(needed):
        raise Forbidden(
            f"You need the '{needed}' role on '{owner}' for this. Ask an owner of '{owner}'"
            " to add you, or publish under your own name.",
            code="forbidden",
        )
    return role
