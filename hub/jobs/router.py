"""Generic job reads. Jobs of a domain (evaluations) are better read through that
domain's routes, which apply its privacy rules; this one shows a job to the person who
requested it and to site admins only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from hub.accounts.deps import CurrentPrincipal
from hub.jobs import service
from hub.jobs.schemas import JobOut
from hub.kit.errors import NotFound
from hub.kit.http import TransactionalRoute, get_db, problem_responses

router = APIRouter(route_class=TransactionalRoute, tags=["jobs"],
                   responses=problem_responses(NotFound))
Db = Annotated[Session, Depends(get_db)]


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: uuid.UUID, db: Db, principal: CurrentPrincipal) -> JobOut:
    job = service.get_job(db, job_id)
    if job.requested_by != principal.user_id and not principal.user.is_admin:
        raise NotFound(f"No job {job_id}.", code="job-not-found")
    return JobOut.of(job)
