"""`/user/...`: who the token belongs to, and their organizations (prime calls them teams)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.accounts import service as accounts
from hub.accounts.deps import CurrentPrincipal, WritePrincipal
from hub.accounts.models import TokenScope
from hub.compat.prime.route import Db, PrimeRoute, data, iso
from hub.compat.prime.schemas import SlugIn
from hub.kit.errors import Conflict, NotFound

router = APIRouter(route_class=PrimeRoute, tags=["prime-compat"])


@router.get("/user/whoami")
def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
    user = principal.user
    write = principal.can_use_scope(TokenScope.WRITE)
    return data({
        "id": str(user.id), "name": user.username, "slug": user.username, "email": user.email,
        "is_admin": user.is_admin, "created_at": iso(user.created_at),
        "scope": {"environments": {"read": True, "write": write},
                  "evaluations": {"read": True, "write": write}},
    })


@router.get("/user/teams")
def teams(db: Db, principal: CurrentPrincipal,
          offset: Annotated[int, Query(ge=0)] = 0,
          limit: Annotated[int, Query(ge=1, le=100)] = 100) -> dict[str, Any]:
    orgs = accounts.list_user_orgs(db, principal.user)
    page = [{"teamId": str(org.id), "id": str(org.id), "name": org.display_name or org.name,
             "slug": org.name, "role": role.value.upper(), "createdAt": iso(org.created_at)}
            for org, role in orgs[offset:offset + limit]]
    return data(page, total_count=len(orgs))


@router.patch("/user/slug")
def set_slug(body: SlugIn, db: Db, principal: WritePrincipal) -> dict[str, Any]:
    """Every account on this hub has its username from the start, and it never changes
    (it is the owner of everything the user publishes): setting it again is a no-op,
    anything else is refused."""
    wanted, current = body.slug.strip().lower(), principal.user.username
    if wanted == current:
        return data({"slug": current, "username": current})
    try:
        accounts.get_namespace(db, wanted)
    except NotFound:
        raise Conflict(f"Your username is '{current}' and cannot be changed on this hub.",
                       code="username-fixed") from None
    raise Conflict(f"The username '{wanted}' is already taken.", code="name-taken")
