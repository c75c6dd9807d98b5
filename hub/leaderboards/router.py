"""`GET /environments/{owner}/{name}/leaderboard`: as private as the environment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from hub.accounts.deps import OptionalPrincipal
from hub.kit.errors import InvalidInput, NotFound
from hub.kit.http import TransactionalRoute, get_db, problem_responses
from hub.leaderboards import service
from hub.leaderboards.schemas import Leaderboard
from hub.registry.access import readable_env

router = APIRouter(route_class=TransactionalRoute, tags=["leaderboards"],
                   responses=problem_responses(NotFound, InvalidInput))


@router.get("/environments/{owner}/{name}/leaderboard", response_model=Leaderboard)
def get_leaderboard(owner: str, name: str, db: Annotated[Session, Depends(get_db)],
                    principal: OptionalPrincipal, version: str | None = None,
                    sort: str = Query("mean_reward",
                                      description=f"one of {', '.join(service.SORTS)}")
                    ) -> Leaderboard:
    env = readable_env(db, owner, name, principal)
    rows = service.leaderboard(db, env, version=version, sort=sort)
    return Leaderboard(environment=f"{owner}/{env.name}", version=version, sort=sort, rows=rows)
