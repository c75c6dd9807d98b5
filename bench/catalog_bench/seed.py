"""Seeding a running hub through the hub's own publish code (register, staged bytes,
finalize), in-process against the hub's database and storage."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from benchlib import LiveHub, log
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from hub.accounts import service as accounts
from hub.accounts.models import User
from hub.accounts.service import Principal
from hub.kit.db import make_engine, session_factory, session_scope, utcnow
from hub.kit.settings import Settings
from hub.kit.storage import Storage, storage_from_settings
from hub.registry import catalog, publish
from hub.registry.access import find_env
from hub.registry.models import DailyDownloads
from hub.registry.schemas import UploadCreate
from tests.support.packages import Built, build

from .dataset import ORGS, USERS, EnvSpec


@dataclass
class Seeded:
    environments: int = 0
    versions: int = 0
    stars: int = 0
    downloads: int = 0
    search_matches: int = 0
    publish_s: float = 0.0
    popularity_s: float = 0.0
    analyze_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def build_all(work: Path, specs: list[EnvSpec]) -> dict[tuple[str, str, str], Built]:
    """Wheel + source archive of every version, built once and reused for each database."""
    out = {}
    for s in specs:
        for v in s.versions:
            out[(s.owner, s.name, v)] = build(
                work / s.owner / s.name, s.name, v, requires=s.requires,
                description=s.description, keywords=s.keywords, readme=s.readme)
    return out


def hub_settings(hub: LiveHub) -> Settings:
    """The settings the running hub resolved from its HUB_* variables."""
    data_dir = Path(hub.env["HUB_DATA_DIR"]).resolve()
    return Settings(data_dir=data_dir,
                    database_url=hub.env.get("HUB_DATABASE_URL", ""),
                    storage_url=f"file://{data_dir / 'blobs'}",
                    secret_key=hub.env["HUB_SECRET_KEY"], public_url=hub.url)


def create_owners(factory: sessionmaker[Session]) -> dict[str, uuid.UUID]:
    """Owner name -> the user id that publishes under it (an org's owner for orgs)."""
    with session_scope(factory) as db:
        users = {u: accounts.create_user(db, u).id for u in USERS}
        for org, owner in ORGS.items():
            accounts.create_org(db, org, db.get_one(User, users[owner]))
    return users | {org: users[owner] for org, owner in ORGS.items()}


def publish_version(factory: sessionmaker[Session], settings: Settings, storage: Storage,
                    user_id: uuid.UUID, owner: str, built: Built) -> None:
    """register -> bytes to the staging keys -> finalize: the upload endpoints' three steps."""
    body = UploadCreate.model_validate(built.register_body("public"))
    with session_scope(factory) as db:
        principal = Principal(user=db.get_one(User, user_id))
        upload = publish.register(db, settings, principal, owner, built.name, body)
        staged = {f.kind.value: f.staging_key for f in publish.upload_files(db, upload.id)}
        upload_id = upload.id
    paths = {"wheel": built.wheel, "source": built.source}
    for kind, key in staged.items():
        with paths[kind].open("rb") as fh:  # what receive_blob's _store does with its temp file
            storage.put_stream(key, fh)
    with session_scope(factory) as db:
        principal = Principal(user=db.get_one(User, user_id))
        publish.finalize(db, settings, storage, principal, upload_id)


def _daily_split(rng: random.Random, total: int, days: int = 30) -> list[int]:
    weights = [rng.random() for _ in range(days)]
    counts = [int(total * w / sum(weights)) for w in weights]
    counts[-1] += total - sum(counts)
    return counts


def add_popularity(factory: sessionmaker[Session], specs: list[EnvSpec],
                   owners: dict[str, uuid.UUID], seed: int) -> tuple[int, int]:
    """Stars through catalog.set_star (real users); download counters as count_download
    leaves them (daily rows plus the running total), written as totals rather than one
    upsert per download, which would be hundreds of thousands of statements."""
    rng = random.Random(seed + 1)
    today = utcnow().date()
    stars = 0
    with session_scope(factory) as db:
        users = [db.get_one(User, owners[u]) for u in USERS]
        for s in specs:
            env = find_env(db, s.owner, s.name)
            assert env is not None
            for k, count in enumerate(_daily_split(rng, s.downloads)):
                if count:
                    db.add(DailyDownloads(environment_id=env.id,
                                          day=today - timedelta(days=29 - k), count=count))
            env.downloads = s.downloads
            p_star = min(0.9, 0.01 + s.downloads / 20_000)
            for user in users:
                if rng.random() < p_star:
                    catalog.set_star(db, env, Principal(user=user), True)
                    stars += 1
    return stars, sum(s.downloads for s in specs)


def seed_hub(hub: LiveHub, specs: list[EnvSpec], built: dict[tuple[str, str, str], Built],
             seed: int) -> Seeded:
    settings = hub_settings(hub)
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    storage = storage_from_settings(settings)
    out = Seeded(environments=len(specs), search_matches=sum(s.matches_search for s in specs))
    try:
        owners = create_owners(factory)
        t0 = time.monotonic()
        for i, s in enumerate(specs):
            for v in s.versions:
                publish_version(factory, settings, storage, owners[s.owner], s.owner,
                                built[(s.owner, s.name, v)])
                out.versions += 1
            if (i + 1) % 200 == 0:
                log(f"  published {i + 1}/{len(specs)} environments ...")
        out.publish_s = time.monotonic() - t0
        t0 = time.monotonic()
        out.stars, out.downloads = add_popularity(factory, specs, owners, seed)
        out.popularity_s = time.monotonic() - t0
        if engine.dialect.name == "postgresql":
            # What autovacuum does within a minute of a bulk load; measuring before it
            # would time the planner's guesses rather than the steady state.
            t0 = time.monotonic()
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
            out.analyze_s = time.monotonic() - t0
            out.notes.append("ANALYZE run after seeding (as autovacuum would)")
    finally:
        engine.dispose()
    return out
