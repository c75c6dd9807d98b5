"""`/providers`: anyone may list what can be evaluated; only site admins change it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from hub.accounts.deps import AdminScopePrincipal
from hub.accounts.service import Principal
from hub.jobs.deps import JobSettingsDep
from hub.kit.deps import get_settings_dep
from hub.kit.errors import Conflict, Forbidden, NotFound
from hub.kit.http import TransactionalRoute, get_db, problem_responses
from hub.kit.settings import Settings
from hub.providers import service
from hub.providers.schemas import ProviderAdminOut, ProviderIn, ProviderOut

router = APIRouter(route_class=TransactionalRoute, tags=["providers"])
Db = Annotated[Session, Depends(get_db)]


def _site_admin(principal: Principal) -> None:
    if not principal.user.is_admin:
        raise Forbidden("Only site administrators manage providers.", code="forbidden")


@router.get("/providers", response_model=list[ProviderOut])
def list_providers(db: Db, jobs: JobSettingsDep) -> list[ProviderOut]:
    return service.list_providers(db, jobs)


@router.post("/providers", status_code=201, response_model=ProviderAdminOut,
             responses=problem_responses(Forbidden, Conflict))
def add_provider(body: ProviderIn, db: Db, principal: AdminScopePrincipal,
                 settings: Annotated[Settings, Depends(get_settings_dep)],
                 replace: bool = Query(False)) -> ProviderAdminOut:
    _site_admin(principal)
    return service.admin_out(service.upsert_provider(db, settings.secret_key, body,
                                                     replace=replace))


@router.delete("/providers/{name}", status_code=204,
               responses=problem_responses(Forbidden, NotFound))
def delete_provider(name: str, db: Db, principal: AdminScopePrincipal) -> Response:
    _site_admin(principal)
    service.delete_provider(db, name)
    return Response(status_code=204)
