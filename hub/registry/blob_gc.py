"""Garbage collection of package blobs nobody references any more, and of abandoned uploads.

Blobs are content-addressed and shared: two versions (or environments, or a fork) with an
identical file point at one object, so deleting a version cannot delete its bytes on the
spot. Instead the delete queues the keys it unreferences (`blob_candidates`), and
`collect` later deletes a queued object if no file row references it. The danger is a
publish that reuses an object the collector is about to delete: finalize sees the blob
exists, skips writing it and inserts its file row; if the collector deletes the object in
between, a published version points at missing bytes. This module's protocol rules that
out on PostgreSQL and SQLite alike.

Every actor takes a *key lock* on a storage key k by writing the candidate row k:

- release (`delete_version`, `delete_environment`): upserts k (INSERT .. ON CONFLICT DO
  UPDATE) *before* deleting the rows that reference k, in the same transaction.
- pin (finalize, fork): upserts then deletes k, *before* checking that the object exists,
  in the transaction that will insert the referencing rows. Finalize writes the object
  when it is missing; fork refuses when no committed row references k any more (while
  one does, the object exists: that is the invariant proved below).
- claim (`collect`, one short transaction per key): deletes row k; stops if there was no
  row; stops if a committed file row references k; otherwise deletes the object, *then*
  commits.

Key locks on the same k exclude each other until the holder's transaction ends. On
PostgreSQL they are the row lock on k, or, when no committed row k exists, the unique
index entry of an uncommitted insert (a concurrent insert of k waits for the inserting
transaction, even if that transaction deleted the row again; see "Index Uniqueness Checks"
in the PostgreSQL manual). On SQLite every write takes the single database write lock,
held until commit, and a transaction's reads after its first write see every earlier
commit. PostgreSQL runs at its default READ COMMITTED, so the claim's reference check, a
new statement, sees everything committed before it.

Claim: an object is never deleted while a committed file row references it.
Let A be a transaction that commits a file row referencing k, with pin P, and C a claim
of k that deletes the object.
- If P waited for or followed C's key lock, C had deleted the object before it committed
  and released the lock; A's existence check comes after P, so A writes the object again
  (fork refuses instead). The object exists when A commits.
- If P came first, C finds no row k to claim until A ends: P deleted the committed row k
  (C waits for A, then finds it gone) or there was none (P's own insert is invisible to
  C), and a release that queues k after P waits for A. So a row C claims was committed
  after A, and C's reference check, later still, sees A's file row and stops.
Objects are deleted only by claims, and every claim is in one of these cases, so a
reference never dangles. Lock order: releases take their key locks before deleting or
updating any row, pins before inserting version or file rows, and claims hold nothing
else, so key locks add no cycle to the row locks deletes and publishes already take.

Liveness: the transaction that deletes a reference queues its key, and a queued key leaves
the queue only through a pin (whose transaction then references it, or rolls back and
restores the row) or a claim (which deletes the object, or finds it still referenced, in
which case dropping that reference queues it again). Objects written by a publish that
then failed were never referenced and never queued: `enqueue_unreferenced` (`envhub admin
gc-blobs --scan`) finds them, and blobs left by deletes made before this collector existed.

Staged uploads (`staging/<upload id>/<kind>`) are garbage when their upload row is gone
or finalized: the row is committed before its upload URL is handed out, an upload id is
never reused, and a finalized upload never reads its staged bytes again. Besides what
`sweep_expired_uploads` removes with the uploads it expires, `sweep_staging` thus removes
bytes PUT after finalize (the signed URL outlives it; the sweep later drops the finalized
row but not those bytes) and bytes of uploads whose rows went by a database cascade.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import delete, select, union
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from hub.kit.db import utcnow
from hub.kit.storage import Storage
from hub.registry.models import BlobCandidate, File, Upload, UploadState

log = logging.getLogger(__name__)

BATCH = 500
BLOB_PREFIX = "blobs/"
STAGING_PREFIX = "staging/"
_CHUNK = 500  # keys per statement: well under SQLite's bound-parameter limit


def _chunks(items: Iterable[str], size: int = _CHUNK) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _upsert(db: Session, keys: list[str]) -> None:
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    for chunk in _chunks(keys):  # keys are sorted: every transaction locks in one order
        stmt = insert(BlobCandidate).values([{"storage_key": k, "enqueued_at": now}
                                             for k in chunk])
        db.execute(stmt.on_conflict_do_update(
            index_elements=["storage_key"], set_={"enqueued_at": stmt.excluded.enqueued_at}))


def release(db: Session, keys: Iterable[str]) -> None:
    """Queue blobs whose references this transaction deletes. Call before deleting rows."""
    _upsert(db, sorted(set(keys)))


def pin(db: Session, keys: Iterable[str]) -> None:
    """Take the blobs this transaction will reference away from the collector.

    Call before checking that the objects exist and before inserting file rows; the
    locks are held until the transaction ends (see the module docstring).
    """
    wanted = sorted(set(keys))
    _upsert(db, wanted)
    for chunk in _chunks(wanted):
        db.execute(delete(BlobCandidate).where(BlobCandidate.storage_key.in_(chunk))
                   .execution_options(synchronize_session=False))


def keys_of_versions(db: Session, version_ids: list[uuid.UUID]) -> list[str]:
    """Every storage key the file rows of these versions reference."""
    if not version_ids:
        return []
    rows = db.execute(select(File.blob_key, File.metadata_key)
                      .where(File.version_id.in_(version_ids)))
    return sorted({key for row in rows for key in row if key})


def referenced(db: Session, keys: list[str]) -> set[str]:
    """The subset of `keys` some file row references."""
    found: set[str] = set()
    for chunk in _chunks(keys):
        found.update(db.scalars(union(
            select(File.blob_key).where(File.blob_key.in_(chunk)),
            select(File.metadata_key).where(File.metadata_key.in_(chunk)),
        )))
    return found


@dataclass
class GcReport:
    dry_run: bool = False
    deleted: list[str] = field(default_factory=list)  # blobs deleted (or, dry, to delete)
    kept: int = 0  # queued blobs still referenced: dropped from the queue, object kept
    failed: int = 0  # storage errors: the key stays queued for the next run
    staging_deleted: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"deleted": len(self.deleted), "kept": self.kept, "failed": self.failed,
                "staging_deleted": len(self.staging_deleted)}


def collect(sessions: sessionmaker[Session], storage: Storage, *, limit: int = BATCH,
            dry_run: bool = False) -> GcReport:
    """Examine up to `limit` queued blobs and abandoned staging objects; delete the garbage.

    Idempotent and safe to run concurrently with publishes, deletes and other collectors.
    Commits one short transaction per blob (a job, not a request). `dry_run` only reads.
    """
    report = GcReport(dry_run=dry_run)
    with sessions() as db:
        keys = list(db.scalars(select(BlobCandidate.storage_key)
                               .order_by(BlobCandidate.enqueued_at, BlobCandidate.storage_key)
                               .limit(limit)))
    if dry_run:
        with sessions() as db:
            live = referenced(db, keys)
        report.deleted = [k for k in keys if k not in live]
        report.kept = len(keys) - len(report.deleted)
    else:
        for key in keys:
            try:
                outcome = _claim(sessions, storage, key)
            except Exception:
                log.exception("blob gc: could not collect %s; it stays queued", key)
                report.failed += 1
                continue
            if outcome == "deleted":
                report.deleted.append(key)
            elif outcome == "kept":
                report.kept += 1
    report.staging_deleted = sweep_staging(sessions, storage, limit=limit, dry_run=dry_run)
    if report.deleted or report.staging_deleted or report.failed:
        log.info("blob gc%s: %s", " (dry run)" if dry_run else "", report.counts())
    return report


def _claim(sessions: sessionmaker[Session], storage: Storage, key: str) -> str:
    with sessions() as db:
        claimed = db.execute(
            delete(BlobCandidate).where(BlobCandidate.storage_key == key)
            .returning(BlobCandidate.storage_key).execution_options(synchronize_session=False)
        ).first()
        if claimed is None:
            db.commit()
            return "gone"  # a pin or another collector took it
        if referenced(db, [key]):
            db.commit()
            return "kept"
        storage.delete(key)  # before the commit: a waiting pin must find the object gone
        db.commit()
        return "deleted"


def sweep_staging(sessions: sessionmaker[Session], storage: Storage, *, limit: int = BATCH,
                  dry_run: bool = False) -> list[str]:
    """Delete up to `limit` staged upload objects whose upload is gone or finalized."""
    by_upload: dict[uuid.UUID, list[str]] = defaultdict(list)
    for key in storage.list_keys(STAGING_PREFIX):
        try:
            upload_id = uuid.UUID(key.split("/")[1])
        except (IndexError, ValueError):
            continue  # not ours: leave it alone
        by_upload[upload_id].append(key)
    removed: list[str] = []
    ids = list(by_upload)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        with sessions() as db:
            live = set(db.scalars(select(Upload.id).where(
                Upload.id.in_(chunk), Upload.state != UploadState.FINALIZED)))
        for key in (k for uid in chunk if uid not in live for k in by_upload[uid]):
            if len(removed) >= limit:
                return removed
            if not dry_run:
                storage.delete(key)
            removed.append(key)
    return removed


def enqueue_unreferenced(sessions: sessionmaker[Session], storage: Storage, *,
                         dry_run: bool = False) -> int:
    """Queue every stored blob no file row references; returns how many (a full scan).

    For blobs orphaned before deletes queued their keys, or written by a publish that
    failed afterwards. Queuing is always safe: `collect` re-checks under the key lock.
    """
    found = 0
    for chunk in _chunks(storage.list_keys(BLOB_PREFIX)):
        with sessions() as db:
            orphans = sorted(set(chunk) - referenced(db, chunk))
            if orphans and not dry_run:
                release(db, orphans)
                db.commit()
        found += len(orphans)
    return found
