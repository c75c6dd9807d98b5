"""Reading the registry: environments, versions, search, stars and download counts."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import cast

from packaging.version import Version as PepVersion
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.accounts import service as accounts
from hub.accounts.models import Namespace
from hub.accounts.service import Principal
from hub.kit.db import utcnow
from hub.kit.errors import Conflict, InvalidInput, NotFound
from hub.registry.models import (
    DailyDownloads,
    Environment,
    EnvironmentTag,
    File,
    Runtime,
    Star,
    Version,
    Visibility,
    search_vector,
)

SORTS = {
    "name": Environment.normalized_name,
    "updated": Environment.updated_at,
    "created": Environment.created_at,
    "downloads": Environment.downloads,
    "stars": Environment.stars,
}


def _version_key(v: Version) -> tuple[bool, PepVersion]:
    parsed = PepVersion(v.version)
    return (not parsed.is_prerelease, parsed)


def versions_of(db: Session, env: Environment) -> list[Version]:
    """Newest first, by PEP 440 order (not by upload time)."""
    rows = db.scalars(select(Version).where(Version.environment_id == env.id)).all()
    return sorted(rows, key=lambda v: PepVersion(v.version), reverse=True)


def latest(versions: list[Version]) -> Version | None:
    candidates = [v for v in versions if not v.yanked] or versions
    return max(candidates, key=_version_key) if candidates else None


def refresh_environment(db: Session, env: Environment, *, published: bool = False) -> None:
    """Recompute what the environment shows from its versions (after publish, yank, delete).

    A publish adopts the new latest version's summary and (if none are set) its keywords
    as tags; edits made with PATCH otherwise stick.
    """
    db.flush()
    newest = latest(versions_of(db, env))
    env.latest_version = newest.version if newest else None
    if newest is not None:
        env.runtime = newest.runtime
        if published:
            env.description = newest.description or env.description
            if not tags_of(db, [env.id]).get(env.id):
                set_tags(db, env, newest.tags)
    readme = newest.readme if newest else ""
    tags = " ".join(tags_of(db, [env.id]).get(env.id, []))
    env.search_text = f"{env.name} {env.name.replace('-', ' ')} {env.description} {tags} {readme}"
    env.updated_at = utcnow()
    db.flush()


def set_tags(db: Session, env: Environment, tags: list[str]) -> None:
    clean = sorted({t.strip().lower()[:50] for t in tags if t.strip()})
    db.execute(delete(EnvironmentTag).where(EnvironmentTag.environment_id == env.id))
    for tag in clean:
        db.add(EnvironmentTag(environment_id=env.id, tag=tag))
    db.flush()


def tags_of(db: Session, env_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    out: dict[uuid.UUID, list[str]] = defaultdict(list)
    if not env_ids:
        return out
    rows = db.execute(
        select(EnvironmentTag.environment_id, EnvironmentTag.tag)
        .where(EnvironmentTag.environment_id.in_(env_ids)).order_by(EnvironmentTag.tag)
    )
    for env_id, tag in rows:
        out[env_id].append(tag)
    return out


def owner_names(db: Session, owner_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not owner_ids:
        return {}
    return dict(db.execute(select(Namespace.id, Namespace.name).where(Namespace.id.in_(owner_ids)))
                .tuples().all())


def visible_filter(db: Session, principal: Principal | None) -> Select[Environment]:
    query = select(Environment)
    readable = accounts.readable_namespace_ids(db, principal.user if principal else None)
    if readable is None:
        return query
    if not readable:
        return query.where(Environment.visibility == Visibility.PUBLIC)
    return query.where(or_(Environment.visibility == Visibility.PUBLIC,
                           Environment.owner_id.in_(readable)))


@dataclass
class SearchQuery:
    q: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    runtime: Runtime | None = None
    visibility: Visibility | None = None
    sort: str | None = None
    order: str = "desc"
    page: int = 1
    per_page: int = 20
    mine: bool = False
    starred_by: uuid.UUID | None = None


def search(db: Session, principal: Principal | None, sq: SearchQuery
           ) -> tuple[list[Environment], int]:
    query = visible_filter(db, principal)
    if sq.owner:
        try:
            ns = accounts.get_namespace(db, sq.owner)
        except NotFound:
            return [], 0
        query = query.where(Environment.owner_id == ns.id)
    if sq.mine and principal is not None:
        mine = accounts.readable_namespace_ids(db, principal.user) or [principal.user_id]
        query = query.where(Environment.owner_id.in_(mine))
    for tag in sq.tags:
        query = query.where(Environment.id.in_(
            select(EnvironmentTag.environment_id).where(EnvironmentTag.tag == tag.lower())))
    if sq.runtime:
        query = query.where(Environment.runtime == sq.runtime)
    if sq.visibility:
        query = query.where(Environment.visibility == sq.visibility)
    if sq.starred_by:
        query = query.where(Environment.id.in_(
            select(Star.environment_id).where(Star.user_id == sq.starred_by)))
    rank = None
    if sq.q and sq.q.strip():
        query, rank = _text_match(db, query, sq.q.strip())
    if sq.sort and sq.sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}.", code="invalid-sort")
    if sq.sort:
        column = SORTS[sq.sort]
        ordering = column.asc() if sq.order == "asc" else column.desc()
        ordered = query.order_by(ordering, Environment.normalized_name)
    elif rank is not None:
        # Name and id only break ties, so equal ranks page the same way every time.
        ordered = query.order_by(rank.desc(), Environment.downloads.desc(),
                                 Environment.normalized_name, Environment.id)
    else:
        ordered = query.order_by(Environment.updated_at.desc())
    offset = (sq.page - 1) * sq.per_page
    rows = list(db.scalars(ordered.offset(offset).limit(sq.per_page)).all())
    if 0 < len(rows) < sq.per_page or (not rows and offset == 0):
        # A short page (or an empty first page) is the end of the results: it tells the
        # total without a second pass over the matches.
        return rows, offset + len(rows)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    return rows, total


def _text_match(db: Session, query: Select[Environment], q: str
                ) -> tuple[Select[Environment], ColumnElement[float]]:
    name_hit = Environment.normalized_name.ilike(f"%{_escape(q.lower())}%", escape="\\")
    if db.get_bind().dialect.name == "postgresql":
        # The same match as `to_tsvector('english', search_text) @@ tsq OR name_hit`, read
        # from the stored `search_vector` (hub.registry.models). Written as two id sets so
        # that each side gets its own access path: the tsvector side the GIN index, the
        # name side a scan of the short names. A plain OR cannot use the index and would
        # read (detoast) every row's tsvector.
        tsq = func.websearch_to_tsquery("english", q)
        env = cast(Table, Environment.__table__).alias("matched")
        matched = union_all(
            select(env.c.id).where(env.c.search_vector.op("@@")(tsq)),
            select(env.c.id).where(
                env.c.normalized_name.ilike(f"%{_escape(q.lower())}%", escape="\\")),
        )
        rank = func.ts_rank(search_vector, tsq) + case((name_hit, 1.0), else_=0.0)
        return query.where(Environment.id.in_(matched)), rank
    terms = [t for t in q.lower().split() if t]
    conditions = [Environment.search_text.ilike(f"%{_escape(t)}%", escape="\\") for t in terms]
    rank = case((name_hit, 1.0), else_=0.0)
    return query.where(and_(*conditions)), rank


def _escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_version(db: Session, env: Environment, ref: str) -> Version:
    if ref == "latest":
        found = latest(versions_of(db, env))
    else:
        found = db.scalar(select(Version).where(
            Version.environment_id == env.id, Version.version == _normalized(ref)))
    if found is None:
        raise NotFound(f"{env.name} has no version '{ref}'.", code="version-not-found")
    return found


def _normalized(ref: str) -> str:
    try:
        return str(PepVersion(ref))
    except ValueError:
        return ref


def files_of(db: Session, version_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[File]]:
    out: dict[uuid.UUID, list[File]] = defaultdict(list)
    if version_ids:
        for f in db.scalars(select(File).where(File.version_id.in_(version_ids))
                            .order_by(File.kind)):
            out[f.version_id].append(f)
    return out


def starred_ids(db: Session, principal: Principal | None, env_ids: list[uuid.UUID]
                ) -> set[uuid.UUID]:
    if principal is None or not env_ids:
        return set()
    return set(db.scalars(select(Star.environment_id).where(
        Star.user_id == principal.user_id, Star.environment_id.in_(env_ids))))


def set_star(db: Session, env: Environment, principal: Principal, starred: bool) -> None:
    existing = db.get(Star, (principal.user_id, env.id))
    if starred and existing is None:
        db.add(Star(user_id=principal.user_id, environment_id=env.id))
    elif not starred and existing is not None:
        db.delete(existing)
    db.flush()
    env.stars = db.scalar(select(func.count()).select_from(Star)
                          .where(Star.environment_id == env.id)) or 0
    db.flush()


def count_download(db: Session, env_id: uuid.UUID) -> None:
    """One atomic upsert per download, so concurrent downloads never lose a count."""
    today = utcnow().date()
    dialect = db.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(DailyDownloads).values(environment_id=env_id, day=today, count=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["environment_id", "day"],
        set_={"count": DailyDownloads.count + 1},
    )
    db.execute(stmt)
    db.execute(update(Environment).where(Environment.id == env_id)
               .values(downloads=Environment.downloads + 1))


def daily_downloads(db: Session, env: Environment, days: int) -> list[tuple[date, int]]:
    start = utcnow().date() - timedelta(days=days - 1)
    counts = dict(db.execute(select(DailyDownloads.day, DailyDownloads.count).where(
        DailyDownloads.environment_id == env.id, DailyDownloads.day >= start)).tuples().all())
    return [(start + timedelta(days=i), counts.get(start + timedelta(days=i), 0))
            for i in range(days)]


# --- lookups by id, content and reference (the prime-compat adapter speaks in these) ----

_HASH_PREFIX = re.compile(r"[0-9a-f]{8,64}")


def environment_by_id(db: Session, env_id: uuid.UUID) -> Environment | None:
    return db.get(Environment, env_id)


def version_with_content(db: Session, env: Environment, content_hash: str) -> Version | None:
    """The oldest version of `env` whose source has exactly this content hash, if any."""
    return db.scalar(select(Version).where(
        Version.environment_id == env.id, Version.content_hash == content_hash,
    ).order_by(Version.created_at).limit(1))


def version_by_ref(db: Session, env: Environment, ref: str) -> Version:
    """`latest`, a version (`0.1.0`) or a content-hash prefix of 8 to 64 hex digits.

    A version number wins over a hash prefix spelled the same way (`12345678`).
    """
    try:
        return get_version(db, env, ref)
    except NotFound:
        prefix = ref.lower()
        if not _HASH_PREFIX.fullmatch(prefix):
            raise
    found = db.scalars(select(Version).where(
        Version.environment_id == env.id, Version.content_hash.startswith(prefix, autoescape=True),
    ).limit(2)).all()
    if not found:
        raise NotFound(f"{env.name} has no version '{ref}' and no version whose content hash"
                       " starts with it.", code="version-not-found")
    if len(found) > 1:
        raise Conflict(f"Several versions of {env.name} have content hashes starting with"
                       f" '{ref}'; give more digits.", code="ambiguous-version")
    return found[0]


def popular_tags(db: Session, principal: Principal | None, limit: int) -> list[tuple[str, int]]:
    visible = visible_filter(db, principal).with_only_columns(Environment.id)
    rows = db.execute(
        select(EnvironmentTag.tag, func.count().label("n"))
        .where(EnvironmentTag.environment_id.in_(visible))
        .group_by(EnvironmentTag.tag).order_by(func.count().desc(), EnvironmentTag.tag)
        .limit(limit)
    ).tuples().all()
    return [(tag, int(n)) for tag, n in rows]
