from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from hub.accounts import service, sessions
from hub.accounts import throttle as throttling
from hub.accounts.deps import (
    AdminScopePrincipal,
    CurrentPrincipal,
    OptionalPrincipal,
    WritePrincipal,
)
from hub.accounts.models import Organization
from hub.accounts.schemas import (
    MemberOut,
    MemberSet,
    MembershipVisibility,
    MeOut,
    OrgCreate,
    OrgOut,
    OrgRef,
    OwnerOut,
    PasswordChange,
    ProfileUpdate,
    SessionCreate,
    SessionOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserOut,
)
from hub.accounts.throttle import TooManyAttempts
from hub.kit.deps import get_settings_dep
from hub.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from hub.kit.http import TransactionalRoute, get_db, problem_response, problem_responses
from hub.kit.settings import Settings

router = APIRouter(route_class=TransactionalRoute, tags=["accounts"])
Db = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


@router.get("/users/me", response_model=MeOut)
def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut.model_validate(principal.user)


@router.patch("/users/me", response_model=MeOut,
              responses=problem_responses(Unauthorized, InvalidInput))
def update_me(body: ProfileUpdate, principal: WritePrincipal, db: Db) -> MeOut:
    """Edit your profile. Only the fields sent change."""
    if "email" in body.model_fields_set:
        service.set_email(db, principal.user, body.email)
    return MeOut.model_validate(principal.user)


@router.put("/users/me/password", status_code=204,
            responses=problem_responses(Unauthorized, Forbidden, InvalidInput))
def change_password(body: PasswordChange, request: Request, principal: AdminScopePrincipal,
                    db: Db, settings: SettingsDep) -> Response:
    """Change your password (the current one is required). Every other browser session
    ends; API tokens are separate credentials and keep working."""
    service.change_password(db, principal.user, body.current_password, body.new_password)
    # The browser that made the change stays signed in; a token caller keeps no session.
    keep = request.cookies.get(sessions.COOKIE_NAME) if principal.scope is None else None
    sessions.end_all(db, principal.user, keep_cookie=keep, secret_key=settings.secret_key)
    return Response(status_code=204)


@router.get("/users/{username}", response_model=UserOut)
def user_profile(username: str, db: Db) -> UserOut:
    return UserOut.model_validate(service.get_user(db, username))


@router.get("/users/{username}/orgs", response_model=list[OrgRef],
            responses=problem_responses(NotFound))
def user_public_orgs(username: str, db: Db) -> list[OrgRef]:
    """The organizations a user shows on their profile: public memberships only."""
    user = service.get_user(db, username)
    return [OrgRef(name=o.name, display_name=o.display_name)
            for o in service.list_public_orgs(db, user)]


@router.get("/owners/{name}", response_model=OwnerOut)
def owner_profile(name: str, db: Db) -> OwnerOut:
    ns = service.get_namespace(db, name)
    display = None
    if ns.kind == "org":
        display = service.get_org(db, name).display_name
    return OwnerOut(name=ns.name, kind=ns.kind, display_name=display, created_at=ns.created_at)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, principal: CurrentPrincipal, db: Db,
                 settings: SettingsDep) -> TokenCreated:
    # A token may not mint a token wider than itself.
    principal.require_scope(body.scope)
    # Nor one that outlives it: a token's expiry caps that of the tokens it creates.
    issued = service.create_token(db, principal.user, body.name, body.scope,
                                  secret_key=settings.secret_key, expires_days=body.expires_days,
                                  not_after=principal.token_expires_at)
    out = TokenOut.model_validate(issued.token).model_dump()
    return TokenCreated(**out, token=issued.secret)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(principal: CurrentPrincipal, db: Db) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in service.list_tokens(db, principal.user)]


@router.delete("/tokens/{token_id}", status_code=204,
               responses=problem_responses(Unauthorized, Forbidden, NotFound))
def revoke_token(token_id: uuid.UUID, principal: WritePrincipal, db: Db) -> Response:
    """Revoke one of your tokens (a token needs write scope to do it)."""
    service.revoke_token(db, principal.user, token_id)
    return Response(status_code=204)


def _org_out(db: Session, org: Organization, principal: service.Principal | None) -> OrgOut:
    user = principal.user if principal else None
    role = service.role_in(db, org.id, user)
    members = None
    if role is not None:
        members = [MemberOut(username=u.username, role=r) for u, r in service.list_members(db, org)]
    mine = service.membership_of(db, org, user)
    return OrgOut(id=org.id, name=org.name, display_name=org.display_name,
                  created_at=org.created_at, your_role=role, members=members,
                  membership_public=mine.public if mine else None)


@router.post("/orgs", response_model=OrgOut, status_code=201,
             responses=problem_responses(Unauthorized, Forbidden, Conflict, InvalidInput))
def create_org(body: OrgCreate, principal: WritePrincipal, db: Db) -> OrgOut:
    org = service.create_org(db, body.name, principal.user, body.display_name)
    return _org_out(db, org, principal)


@router.get("/orgs", response_model=list[OrgOut])
def my_orgs(principal: CurrentPrincipal, db: Db) -> list[OrgOut]:
    return [_org_out(db, org, principal) for org, _ in service.list_user_orgs(db, principal.user)]


@router.get("/orgs/{name}", response_model=OrgOut)
def get_org(name: str, principal: OptionalPrincipal, db: Db) -> OrgOut:
    return _org_out(db, service.get_org(db, name), principal)


@router.put("/orgs/{name}/membership", response_model=OrgOut,
            responses=problem_responses(Unauthorized, NotFound))
def set_membership_visibility(name: str, body: MembershipVisibility, principal: WritePrincipal,
                              db: Db) -> OrgOut:
    """Show or hide your own membership on your public profile."""
    org = service.get_org(db, name)
    service.set_membership_public(db, org, principal.user, body.public)
    return _org_out(db, org, principal)


@router.put("/orgs/{name}/members/{username}", response_model=OrgOut)
def set_member(name: str, username: str, body: MemberSet, principal: WritePrincipal,
               db: Db) -> OrgOut:
    org = service.get_org(db, name)
    service.set_member(db, org, principal.user, username, body.role)
    return _org_out(db, org, principal)


@router.delete("/orgs/{name}/members/{username}", status_code=204)
def remove_member(name: str, username: str, principal: WritePrincipal, db: Db) -> Response:
    org = service.get_org(db, name)
    service.remove_member(db, org, principal.user, username)
    return Response(status_code=204)


# --- browser sessions -------------------------------------------------------------------

def _sign_in_responses() -> dict[int | str, dict[str, Any]]:
    out = problem_responses(Unauthorized, TooManyAttempts)
    out[429]["headers"] = {"Retry-After": {
        "description": "Seconds until sign-in may be tried again.",
        "schema": {"type": "integer"},
    }}
    return out


@router.post("/session", response_model=SessionOut, responses=_sign_in_responses())
def sign_in(body: SessionCreate, request: Request, response: Response, db: Db,
            settings: SettingsDep) -> SessionOut | Response:
    """Sign a browser in with a password. Repeated failures are throttled per account and
    per client address: `429 too-many-attempts` with `Retry-After` (hub.accounts.throttle)."""
    throttle = throttling.for_app(request.app.state)
    ip = request.client.host if request.client else None
    try:
        user = throttling.authenticate(db, throttle, ip, body.username, body.password)
    except Unauthorized:
        db.commit()  # keep the counted failure: the refusal rolls the transaction back
        raise
    except TooManyAttempts as exc:
        return problem_response(exc.status, exc.problem(request.url.path),
                                {"Retry-After": str(exc.retry_after)})
    cookie, web_session = sessions.start(db, user, secret_key=settings.secret_key)
    response.set_cookie(
        sessions.COOKIE_NAME, cookie, httponly=True, samesite="lax",
        secure=settings.public_url.startswith("https://"),
        max_age=int(sessions.SESSION_LIFETIME.total_seconds()), path="/",
    )
    return SessionOut(user=MeOut.model_validate(user), csrf_token=web_session.csrf_token)


@router.get("/session", response_model=SessionOut)
def current_session(request: Request, db: Db, settings: SettingsDep) -> SessionOut:
    cookie = request.cookies.get(sessions.COOKIE_NAME)
    found = sessions.lookup(db, cookie, secret_key=settings.secret_key) if cookie else None
    if found is None:
        raise Unauthorized("Not signed in.", code="unauthenticated")
    web_session, user = found
    return SessionOut(user=MeOut.model_validate(user), csrf_token=web_session.csrf_token)


@router.delete("/session", status_code=204)
def sign_out(request: Request, db: Db, settings: SettingsDep) -> Response:
    cookie = request.cookies.get(sessions.COOKIE_NAME)
    if cookie:
        sessions.end(db, cookie, secret_key=settings.secret_key)
    response = Response(status_code=204)
    response.delete_cookie(sessions.COOKIE_NAME, path="/")
    return response


