"""`/audit` (site admins) and `/environments/{owner}/{name}/audit` (the environment's
admins): who deleted, yanked, forked or changed the visibility of what, and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from hub.accounts.deps import CurrentPrincipal
from hub.accounts.models import Role
from hub.kit.errors import Forbidden, NotFound
from hub.kit.http import TransactionalRoute, get_db, problem_responses
from hub.registry import audit
from hub.registry.access import readable_env, require_role
from hub.registry.publish import ns_key
from hub.registry.schemas import AuditPage

router = APIRouter(route_class=TransactionalRoute, tags=["audit"])
Db = Annotated[Session, Depends(get_db)]
PageNo = Annotated[int, Query(ge=1)]
PerPage = Annotated[int, Query(ge=1, le=200)]


@router.get("/audit", response_model=AuditPage, responses=problem_responses(Forbidden))
def site_audit(db: Db, principal: CurrentPrincipal,
               subject: Annotated[str | None, Query(description="owner, owner/name, ...")]
               = None, action: str | None = None, page: PageNo = 1, per_page: PerPage = 50
               ) -> AuditPage:
    """Every audit event, newest first; `subject` matches by prefix."""
    if not principal.user.is_admin:
        raise Forbidden("Only site administrators read the whole audit trail; an"
                        " environment's admins read its own at .../audit.", code="forbidden")
    return audit.page(db, subject=subject, action=action, page_no=page, per_page=per_page)


@router.get("/environments/{owner}/{name}/audit", response_model=AuditPage,
            responses=problem_responses(Forbidden, NotFound))
def environment_audit(owner: str, name: str, db: Db, principal: CurrentPrincipal,
                      action: str | None = None, page: PageNo = 1, per_page: PerPage = 50
                      ) -> AuditPage:
    """The environment's own events and its versions', for admins of its owner."""
    env = readable_env(db, owner, name, principal)
    require_role(db, env.owner_id, owner, principal, Role.ADMIN)
    return audit.page(db, subject=ns_key(db, env), action=action, page_no=page,
                      per_page=per_page, exact_env=True)
