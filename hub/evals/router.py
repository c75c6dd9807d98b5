"""`/evals`: start, list, read, tail and cancel evaluations; upload self-reported results."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from hub.accounts.deps import OptionalPrincipal, WritePrincipal
from hub.evals import formats, service, usage
from hub.evals.models import Evaluation
from hub.evals.schemas import EvalCreate, EvalOut, EvalPage, LogOut, SamplePage, UsagePage
from hub.jobs import service as jobs
from hub.jobs.deps import DispatcherDep, JobSettingsDep
from hub.jobs.models import Job, JobState
from hub.kit.deps import get_settings_dep, get_storage
from hub.kit.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from hub.kit.http import TransactionalRoute, get_db, problem_responses
from hub.kit.settings import Settings
from hub.kit.storage import Storage

router = APIRouter(route_class=TransactionalRoute, tags=["evaluations"],
                   responses=problem_responses(NotFound))
Db = Annotated[Session, Depends(get_db)]
StorageDep = Annotated[Storage, Depends(get_storage)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SSE_POLL_S = 1.0


def _one(db: Session, ev_id: uuid.UUID) -> EvalOut:
    found = db.get(Evaluation, ev_id)
    assert found is not None
    return service.evals_out(db, [found])[0]


@router.post("/evals", status_code=201, response_model=EvalOut,
             responses=problem_responses(InvalidInput, Forbidden))
def create_eval(body: EvalCreate, db: Db, principal: WritePrincipal, jobs_cfg: JobSettingsDep,
                dispatcher: DispatcherDep) -> EvalOut:
    ev = service.create_hosted(db, jobs_cfg, principal, body, dispatcher)
    return _one(db, ev.id)


@router.get("/evals", response_model=EvalPage)
def list_evals(db: Db, principal: OptionalPrincipal, environment: str | None = None,
               status: str | None = Query(None, pattern="^(queued|running|succeeded|failed|"
                                          "cancelled|timed_out)$"),
               mine: bool = False, model: str | None = None,
               page: int = Query(1, ge=1), per_page: int = Query(20, ge=1, le=100)) -> EvalPage:
    rows, total = service.list_evals(db, principal, environment=environment, status=status,
                                     mine=mine, model=model, page=page, per_page=per_page)
    return EvalPage(items=service.evals_out(db, rows), total=total, page=page,
                    per_page=per_page)


@router.get("/evals/{eval_id}", response_model=EvalOut)
def get_eval(eval_id: uuid.UUID, db: Db, principal: OptionalPrincipal) -> EvalOut:
    found = service.readable_eval(db, principal, eval_id)
    return service.evals_out(db, [found.ev])[0]


@router.get("/evals/{eval_id}/samples", response_model=SamplePage)
def get_samples(eval_id: uuid.UUID, db: Db, principal: OptionalPrincipal, storage: StorageDep,
                page: int = Query(1, ge=1), per_page: int = Query(20, ge=1, le=200),
                filter: str | None = Query(None, pattern="^(failed|low_reward)$"),
                below: float = Query(0.5, description="low_reward: reward under this")
                ) -> SamplePage:
    found = service.readable_eval(db, principal, eval_id)
    items, total = service.samples_page(db, storage, found.ev, page=page, per_page=per_page,
                                        filter_=filter, below=below)
    return SamplePage(items=items, total=total, page=page, per_page=per_page)


@router.get("/evals/{eval_id}/usage", response_model=UsagePage)
def get_usage(eval_id: uuid.UUID, db: Db, principal: OptionalPrincipal,
              page: int = Query(1, ge=1), per_page: int = Query(50, ge=1, le=500)
              ) -> UsagePage:
    """The model gateway's per-request usage of a hosted run (empty for uploaded runs)."""
    found = service.readable_eval(db, principal, eval_id)
    return UsagePage(summary=usage.summary(db, found.ev),
                     items=usage.page(db, found.ev, page_no=page, per_page=per_page),
                     page=page, per_page=per_page)


@router.get("/evals/{eval_id}/logs", response_model=LogOut)
def get_logs(eval_id: uuid.UUID, db: Db, principal: OptionalPrincipal, storage: StorageDep,
             offset: int = Query(0, ge=0), limit: int = Query(256 * 1024, ge=1, le=4 << 20)
             ) -> LogOut:
    found = service.readable_eval(db, principal, eval_id)
    if found.job is None:
        return LogOut(offset=0, next_offset=0, text="", complete=True)
    piece = jobs.read_log(db, storage, found.job, offset, limit)
    return LogOut(offset=piece.offset, next_offset=piece.next_offset, text=piece.text,
                  complete=piece.complete)


@router.post("/evals/{eval_id}/cancel", response_model=EvalOut,
             responses=problem_responses(Forbidden, InvalidInput))
def cancel_eval(eval_id: uuid.UUID, db: Db, principal: WritePrincipal) -> EvalOut:
    found = service.readable_eval(db, principal, eval_id)
    service.cancel(db, principal, found)
    return service.evals_out(db, [found.ev])[0]


def _sse(event: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


@router.get("/evals/{eval_id}/events", response_class=StreamingResponse)
def events(eval_id: uuid.UUID, request: Request, db: Db, principal: OptionalPrincipal,
           storage: StorageDep, offset: int = Query(0, ge=0),
           last_event_id: Annotated[str | None, Header()] = None) -> StreamingResponse:
    """Server-sent events: `status` (state + progress) whenever it changes, `log` with new
    log text (its id is the next log offset, so a reconnect resumes), `end` once done."""
    found = service.readable_eval(db, principal, eval_id)
    if last_event_id and last_event_id.isdigit():
        offset = int(last_event_id)
    factory: sessionmaker[Session] = request.app.state.session_factory
    job_id = found.job.id if found.job else None
    return StreamingResponse(_event_stream(factory, storage, job_id, offset, request),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _poll(factory: sessionmaker[Session], storage: Storage, job_id: uuid.UUID, offset: int
          ) -> tuple[dict[str, Any], jobs.LogSlice]:
    with factory() as db:
        job = db.get(Job, job_id)
        assert job is not None
        status = {"status": str(job.state), "progress_done": job.progress_done,
                  "progress_total": job.progress_total, "attempts": job.attempts,
                  "error_code": job.error_code, "error_message": job.error_message}
        return status, jobs.read_log(db, storage, job, offset)


async def _event_stream(factory: sessionmaker[Session], storage: Storage,
                        job_id: uuid.UUID | None, offset: int, request: Request
                        ) -> AsyncIterator[bytes]:
    if job_id is None:
        yield _sse("status", {"status": service.UPLOADED})
        yield _sse("end", {"status": service.UPLOADED})
        return
    last: dict[str, Any] | None = None
    while True:
        status, piece = await run_in_threadpool(_poll, factory, storage, job_id, offset)
        if status != last:
            yield _sse("status", status)
            last = status
        if piece.text:
            offset = piece.next_offset
            yield _sse("log", {"offset": piece.offset, "text": piece.text}, offset)
            continue  # more may be waiting: read again without sleeping
        if JobState(status["status"]).terminal and piece.complete:
            yield _sse("end", {"status": status["status"]})
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(SSE_POLL_S)


async def _read_capped(upload: UploadFile | None, cap: int) -> bytes | None:
    if upload is None:
        return None
    data = await upload.read(cap + 1)
    if len(data) > cap:
        raise PayloadTooLarge(f"{upload.filename} is over {cap} bytes.",
                              code="upload-too-large")
    return data


@router.post("/evals/upload", status_code=201, response_model=EvalOut,
             responses=problem_responses(InvalidInput, Forbidden, PayloadTooLarge))
async def upload_eval(
    db: Db, principal: WritePrincipal, storage: StorageDep, settings: SettingsDep,
    environment: Annotated[str, Form(description="owner/name")],
    version: Annotated[str, Form()] = "latest",
    model: Annotated[str | None, Form(description="provider/model or model")] = None,
    results: Annotated[UploadFile | None, File(description="v0 results.jsonl")] = None,
    metadata: Annotated[UploadFile | None, File(description="v0 metadata.json")] = None,
    traces: Annotated[UploadFile | None, File(description="v1 traces.jsonl")] = None,
) -> EvalOut:
    """Record a self-reported evaluation from `vf-eval` output (either generation)."""
    cap = settings.max_upload_bytes
    results_b, meta_b, traces_b = (await _read_capped(results, cap),
                                   await _read_capped(metadata, cap),
                                   await _read_capped(traces, cap))
    if traces_b is not None:
        parsed = formats.parse_v1(traces_b)
    elif results_b is not None:
        parsed = formats.parse_v0(results_b, meta_b)
    else:
        raise InvalidInput("Send traces.jsonl (verifiers 0.4) or results.jsonl +"
                           " metadata.json (verifiers 0.1).", code="invalid-eval-output")

    def record() -> uuid.UUID:
        ev = service.create_uploaded(db, storage, principal, environment, version, model,
                                     parsed)
        return ev.id

    ev_id = await run_in_threadpool(record)
    return await run_in_threadpool(_one, db, ev_id)
