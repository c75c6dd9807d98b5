"""FastAPI dependencies for domains that start jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hub.jobs.service import Dispatcher
from hub.jobs.settings import JobSettings, get_job_settings


def job_settings(request: Request) -> JobSettings:
    found: JobSettings | None = getattr(request.app.state, "job_settings", None)
    return found or get_job_settings()


def job_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.job_dispatcher
    return dispatcher


JobSettingsDep = Annotated[JobSettings, Depends(job_settings)]
DispatcherDep = Annotated[Dispatcher, Depends(job_dispatcher)]
