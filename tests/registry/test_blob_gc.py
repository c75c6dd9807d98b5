"""Blob garbage collection (hub.registry.blob_gc) on PostgreSQL and SQLite, disk and S3.

Deleted private versions lose their bytes; shared blobs survive; a publish that reuses a
queued blob, interleaved with the collector in each order, never ends with a version whose
bytes are gone. Interleavings are forced with a store that pauses in one call.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from hub.accounts import service as accounts
from hub.accounts.models import TokenScope
from hub.accounts.service import Principal
from hub.cli import admin
from hub.kit.db import engine_for, make_engine
from hub.kit.migrate import upgrade
from hub.kit.settings import Settings, get_settings
from hub.kit.storage import LocalStorage, Storage, blob_key
from hub.registry import blob_gc, publish, service
from hub.registry.access import find_env
from hub.registry.models import BlobCandidate, Version
from hub.registry.schemas import UploadCreate
from tests.support.hub import SECRET
from tests.support.packages import Built, build
from workers import celery_app, tasks

ALL = ["postgresql-local", "postgresql-s3", "sqlite-local"]
RACE = ["postgresql-local", "sqlite-local"]


@dataclass
class Hub:
    kind: str
    sessions: sessionmaker[Session]
    storage: Storage
    settings: Settings
    tmp: Path

    def user(self, name: str) -> Principal:
        with self.sessions() as db:
            user = accounts.create_user(db, name)
            db.commit()
        return Principal(user=user, scope=TokenScope.WRITE)

    def stage(self, who: Principal, built: Built) -> uuid.UUID:
        body = UploadCreate.model_validate(built.register_body("private"))
        with self.sessions() as db:
            upload = publish.register(db, self.settings, who, who.user.username, built.name,
                                      body)
            files = publish.upload_files(db, upload.id)
            db.commit()
        for f in files:
            with (built.wheel if f.kind == "wheel" else built.source).open("rb") as fh:
                self.storage.put_stream(f.staging_key, fh)
        return upload.id

    def finalize(self, who: Principal, upload_id: uuid.UUID, storage: Storage | None = None
                 ) -> Version:
        with self.sessions() as db:
            version, _ = publish.finalize(db, self.settings, storage or self.storage, who,
                                          upload_id)
            db.commit()
        return version

    def publish(self, who: Principal, built: Built) -> list[str]:
        """Publish privately; returns the version's blob keys."""
        version = self.finalize(who, self.stage(who, built))
        with self.sessions() as db:
            return blob_gc.keys_of_versions(db, [version.id])

    def delete(self, who: Principal, name: str, version: str | None = None, *,
               owner: str | None = None) -> None:
        owner = owner or who.user.username
        with self.sessions() as db:
            env = find_env(db, owner, name)
            assert env is not None
            if version is None:
                service.delete_environment(db, env, owner, who)
            else:
                service.delete_version(db, env, owner, who, version)
            db.commit()

    def queued(self) -> set[str]:
        with self.sessions() as db:
            return set(db.scalars(select(BlobCandidate.storage_key)))

    def intact(self, keys: list[str]) -> bool:
        """Every key is stored and its bytes hash to the name it is stored under."""
        for key in keys:
            if not self.storage.exists(key):
                return False
            with self.storage.open(key) as fh:
                if hashlib.sha256(fh.read()).hexdigest() != key.rsplit("/", 1)[1]:
                    return False
        return True

    def wait_blocked(self, thread: threading.Thread) -> None:
        """Until `thread` waits for a lock (or has finished, which a test must then catch)."""
        if self.kind.startswith("sqlite"):  # SQLite's busy wait cannot be observed
            thread.join(0.5)
            return
        deadline = time.monotonic() + 20
        while thread.is_alive() and time.monotonic() < deadline:
            with self.sessions() as db:
                if db.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname ="
                                  " current_database() AND wait_event_type = 'Lock'")):
                    return
            time.sleep(0.02)
        assert not thread.is_alive(), "neither blocked nor finished"


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gc-sqlite") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def hub(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Hub]:
    kind: str = request.param
    if kind.endswith("s3"):
        storage: Storage = request.getfixturevalue("s3_storage")
        storage_url = "s3://unused"
    else:
        storage = LocalStorage(tmp_path / "blobs")
        storage_url = f"file://{tmp_path / 'blobs'}"
    if kind.startswith("postgresql"):
        url = request.getfixturevalue("pg_url")
        sessions = request.getfixturevalue("committed_sessions")
        engine = None
    else:
        shutil.copy(sqlite_template, tmp_path / "hub.sqlite3")
        url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
        engine = make_engine(url)
        sessions = sessionmaker(bind=engine, expire_on_commit=False)
    settings = Settings(database_url=url, storage_url=storage_url, secret_key=SECRET,
                        data_dir=tmp_path / "data")
    yield Hub(kind, sessions, storage, settings, tmp_path)
    if engine is not None:
        engine.dispose()


# Finalize checks each blob twice: before its transaction's first write (storing the bytes
# outside any lock) and again after pinning it. The races of interest are at the second.
AFTER_PIN = 1


class Paused:
    """A store that stops in one call for one key (after `exists` learns its answer,
    before `delete` deletes) until `go` is set; the first `skip` such calls pass."""

    def __init__(self, inner: Storage, method: str, key: str, *, skip: int = 0) -> None:
        self.inner, self.method, self.key, self.skip = inner, method, key, skip
        self.reached, self.go = threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _gate(self, method: str, key: str) -> None:
        if (method, key) != (self.method, self.key) or self.go.is_set():
            return
        if self.skip:
            self.skip -= 1
            return
        self.reached.set()
        assert self.go.wait(30)

    def exists(self, key: str) -> bool:
        found = self.inner.exists(key)
        self._gate("exists", key)
        return found

    def delete(self, key: str) -> None:
        self._gate("delete", key)
        self.inner.delete(key)


def start(fn: Callable[[], object], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wheel_key(built: Built) -> str:
    return blob_key(hashlib.sha256(built.wheel.read_bytes()).hexdigest())


@pytest.mark.parametrize("hub", ALL, indirect=True)
def test_deleted_private_version_loses_its_blobs(hub: Hub) -> None:
    alice = hub.user("alice")
    old = hub.publish(alice, build(hub.tmp, "env-a", "0.1.0"))
    new = hub.publish(alice, build(hub.tmp, "env-a", "0.2.0"))
    hub.delete(alice, "env-a", "0.1.0")
    assert hub.queued() == set(old)
    report = blob_gc.collect(hub.sessions, hub.storage)
    assert sorted(report.deleted) == old and report.kept == 0
    assert not any(hub.storage.exists(k) for k in old)
    assert hub.intact(new) and hub.queued() == set()

    hub.delete(alice, "env-a")  # the whole environment
    assert sorted(blob_gc.collect(hub.sessions, hub.storage).deleted) == new
    assert list(hub.storage.list_keys("blobs/")) == []


@pytest.mark.parametrize("hub", ALL, indirect=True)
def test_blob_shared_with_a_live_version_survives(hub: Hub) -> None:
    alice, bob = hub.user("alice"), hub.user("bob")
    built = build(hub.tmp, "shared-env")
    keys = hub.publish(alice, built)
    assert hub.publish(bob, built) == keys  # identical bytes: one blob each
    with hub.sessions() as db:  # and a fork copies rows, sharing the blobs too
        accounts.create_org(db, "lab", alice.user)
        env = find_env(db, "alice", "shared-env")
        assert env is not None
        service.fork_environment(db, alice, env, "alice", "lab")
        db.commit()

    for who, owner in ((alice, "alice"), (bob, "bob")):
        hub.delete(who, "shared-env", owner=owner)
        report = blob_gc.collect(hub.sessions, hub.storage)
        assert report.deleted == [] and report.kept == len(keys)
        assert hub.intact(keys) and hub.queued() == set()

    hub.delete(alice, "shared-env", owner="lab")  # the last reference
    assert sorted(blob_gc.collect(hub.sessions, hub.storage).deleted) == keys


@pytest.mark.parametrize("hub", ALL, indirect=True)
def test_gc_is_idempotent_and_dry_run_changes_nothing(hub: Hub) -> None:
    alice = hub.user("alice")
    keys = hub.publish(alice, build(hub.tmp, "env-a"))
    pending = hub.stage(alice, build(hub.tmp, "env-b"))
    orphan = f"staging/{uuid.uuid4()}/wheel"  # bytes of an upload that no longer exists
    hub.storage.put_stream(orphan, io.BytesIO(b"left behind"))
    hub.delete(alice, "env-a")

    dry = blob_gc.collect(hub.sessions, hub.storage, dry_run=True)
    assert sorted(dry.deleted) == keys and dry.staging_deleted == [orphan]
    assert hub.intact(keys) and hub.storage.exists(orphan) and hub.queued() == set(keys)

    done = blob_gc.collect(hub.sessions, hub.storage)
    assert sorted(done.deleted) == keys and done.staging_deleted == [orphan]
    assert blob_gc.collect(hub.sessions, hub.storage).counts() == {
        "deleted": 0, "kept": 0, "failed": 0, "staging_deleted": 0}
    with hub.sessions() as db:  # the pending upload's bytes were left alone
        staged = [f.staging_key for f in publish.upload_files(db, pending)]
    assert staged and all(hub.storage.exists(k) for k in staged)


@pytest.mark.parametrize("hub", RACE, indirect=True)
def test_publish_between_delete_and_gc_keeps_the_blob(hub: Hub) -> None:
    alice, bob = hub.user("alice"), hub.user("bob")
    built = build(hub.tmp, "shared-env")
    keys = hub.publish(alice, built)
    hub.delete(alice, "shared-env")
    assert hub.queued() == set(keys)
    assert hub.publish(bob, built) == keys  # reuses the queued blobs and unqueues them
    assert hub.queued() == set()
    assert blob_gc.collect(hub.sessions, hub.storage).deleted == []
    assert hub.intact(keys)


def _reuse_setup(hub: Hub) -> tuple[Principal, Principal, Built, list[str]]:
    """bob's environment exists (so finalize's first write is the pin); alice published
    `built` and deleted it (its blobs are queued); bob has staged the same bytes."""
    alice, bob = hub.user("alice"), hub.user("bob")
    hub.publish(bob, build(hub.tmp / "early", "shared-env", "0.0.1"))
    built = build(hub.tmp, "shared-env", "0.1.0")
    keys = hub.publish(alice, built)
    hub.delete(alice, "shared-env")
    return alice, bob, built, keys


@pytest.mark.parametrize("hub", RACE, indirect=True)
def test_collector_mid_delete_then_finalize_rewrites(hub: Hub) -> None:
    _, bob, built, keys = _reuse_setup(hub)
    upload = hub.stage(bob, built)
    paused = Paused(hub.storage, "delete", wheel_key(built))
    errors: list[BaseException] = []
    gc = start(lambda: blob_gc.collect(hub.sessions, paused), errors)  # type: ignore[arg-type]
    assert paused.reached.wait(20)  # claimed the wheel, found it unreferenced, not deleted yet
    fin = start(lambda: hub.finalize(bob, upload), errors)
    hub.wait_blocked(fin)  # the pin waits for the collector's transaction
    paused.go.set()
    gc.join(30)
    fin.join(30)
    assert not errors and not gc.is_alive() and not fin.is_alive()
    assert hub.intact(keys), "finalize must rewrite what the collector deleted"


@pytest.mark.parametrize("hub", RACE, indirect=True)
def test_finalize_mid_check_then_collector_keeps(hub: Hub) -> None:
    _, bob, built, keys = _reuse_setup(hub)
    upload = hub.stage(bob, built)
    paused = Paused(hub.storage, "exists", wheel_key(built), skip=AFTER_PIN)
    errors: list[BaseException] = []
    fin = start(lambda: hub.finalize(bob, upload, paused), errors)  # type: ignore[arg-type]
    assert paused.reached.wait(20)  # pinned; saw the wheel exist; will not rewrite it
    gc = start(lambda: blob_gc.collect(hub.sessions, hub.storage), errors)
    hub.wait_blocked(gc)  # the claim waits for finalize's transaction
    paused.go.set()
    fin.join(30)
    gc.join(30)
    assert not errors and not gc.is_alive() and not fin.is_alive()
    assert hub.intact(keys) and hub.queued() == set()


@pytest.mark.parametrize("hub", RACE, indirect=True)
def test_delete_after_pin_waits_then_gc_keeps(hub: Hub) -> None:
    """The last other reference goes while finalize holds an unqueued blob: no candidate
    row existed for the pin to lock, so the delete's queuing must wait for finalize."""
    alice, bob = hub.user("alice"), hub.user("bob")
    hub.publish(bob, build(hub.tmp / "early", "shared-env", "0.0.1"))
    built = build(hub.tmp, "shared-env", "0.1.0")
    keys = hub.publish(alice, built)  # live: nothing queued
    upload = hub.stage(bob, built)
    paused = Paused(hub.storage, "exists", wheel_key(built), skip=AFTER_PIN)
    errors: list[BaseException] = []
    fin = start(lambda: hub.finalize(bob, upload, paused), errors)  # type: ignore[arg-type]
    assert paused.reached.wait(20)
    deleting = start(lambda: hub.delete(alice, "shared-env"), errors)
    hub.wait_blocked(deleting)
    if not deleting.is_alive():  # the delete did not wait: a collector now would do harm
        blob_gc.collect(hub.sessions, hub.storage)
    paused.go.set()
    fin.join(30)
    deleting.join(30)
    assert not errors and not fin.is_alive() and not deleting.is_alive()
    report = blob_gc.collect(hub.sessions, hub.storage)
    assert report.deleted == [] and report.kept == len(keys)
    assert hub.intact(keys)


@pytest.mark.parametrize("hub", RACE, indirect=True)
def test_scan_queues_unreferenced_blobs_and_finalized_uploads_lose_late_bytes(
    hub: Hub,
) -> None:
    alice = hub.user("alice")
    built = build(hub.tmp, "env-a")
    upload = hub.stage(alice, built)
    hub.finalize(alice, upload)
    late = f"staging/{upload}/wheel"  # a PUT to the upload URL after finalize
    with built.wheel.open("rb") as fh:
        hub.storage.put_stream(late, fh)
    stray = blob_key(hashlib.sha256(b"a publish that failed").hexdigest())
    hub.storage.put_stream(stray, io.BytesIO(b"a publish that failed"))

    assert blob_gc.enqueue_unreferenced(hub.sessions, hub.storage, dry_run=True) == 1
    assert hub.queued() == set()
    assert blob_gc.enqueue_unreferenced(hub.sessions, hub.storage) == 1
    report = blob_gc.collect(hub.sessions, hub.storage)
    assert report.deleted == [stray] and report.staging_deleted == [late]
    assert len(list(hub.storage.list_keys("blobs/"))) == 3  # the version's, untouched


@pytest.mark.parametrize("hub", ["sqlite-local"], indirect=True)
def test_admin_command_and_task(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = hub.user("alice")
    keys = hub.publish(alice, build(hub.tmp, "env-a"))
    hub.delete(alice, "env-a")
    monkeypatch.setenv("HUB_DATABASE_URL", hub.settings.database_url)
    monkeypatch.setenv("HUB_STORAGE_URL", hub.settings.storage_url)
    get_settings.cache_clear()
    try:
        dry = CliRunner().invoke(admin.app, ["gc-blobs", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert sorted(dry.stdout.split()) == keys and "would delete 3 blob(s)" in dry.stderr
        assert hub.intact(keys)
        run = CliRunner().invoke(admin.app, ["gc-blobs", "--scan"])
        assert run.exit_code == 0, run.output
        assert sorted(run.stdout.split()) == keys and not any(map(hub.storage.exists, keys))
    finally:
        get_settings.cache_clear()
        engine_for(hub.settings.database_url).dispose()

    monkeypatch.setattr(tasks, "_sessions", lambda: hub.sessions)
    monkeypatch.setattr(tasks, "_storage", lambda: hub.storage)
    assert tasks.gc_blobs.run()["deleted"] == 0  # idempotent: nothing left
    app = celery_app.make_celery(hub.settings)
    assert app.conf.beat_schedule["gc-blobs"]["task"] == celery_app.GC_BLOBS
    assert app.conf.task_routes[celery_app.GC_BLOBS] == {"queue": "maintenance"}
