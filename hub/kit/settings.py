"""Hub configuration, read from `HUB_*` environment variables.

The defaults are the embedded single-machine setup (`make run`): SQLite and local-disk
storage under the data dir. Production points the URLs at PostgreSQL, S3 and Redis.
"""

from __future__ import annotations

import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEV_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 - refused outside development


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", env_file=None, extra="ignore")

    environment: str = Field("development", description="development | production")
    data_dir: Path = Field(Path("./.hub-data"), description="Where embedded state lives")
    database_url: str = Field("", description="SQLAlchemy URL; default SQLite in data_dir")
    storage_url: str = Field("", description="file:///path or s3://bucket; default data_dir")
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    secret_key: str = _DEV_SECRET
    public_url: str = "http://127.0.0.1:8000"
    broker_url: str = Field("", description="Celery broker; empty = embedded broker")
    max_upload_bytes: int = 512 * 1024 * 1024
    max_archive_files: int = 10_000
    max_uncompressed_bytes: int = 2 * 1024 * 1024 * 1024
    max_compression_ratio: float = 200.0
    max_source_file_bytes: int = 1024 * 1024
    upload_url_ttl_seconds: int = 3600
    pending_upload_ttl_seconds: int = 24 * 3600
    index_stamp_ttl_seconds: float = Field(
        1.0, description="How long an anonymous index request may trust a public project's"
        " last-seen version stamp without asking the database (0 = always ask)")

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        embedded_db = not self.database_url
        if embedded_db:
            self.database_url = f"sqlite:///{(self.data_dir / 'hub.sqlite3').resolve()}"
        if embedded_db and self.secret_key == _DEV_SECRET:
            self.secret_key = embedded_secret(self.data_dir) or _DEV_SECRET
        if not self.storage_url:
            self.storage_url = f"file://{(self.data_dir / 'blobs').resolve()}"
        if self.secret_key == _DEV_SECRET and self.environment != "development":
            raise ValueError("HUB_SECRET_KEY must be set outside development")
        self.public_url = self.public_url.rstrip("/")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def generate_secret() -> str:
    return secrets.token_urlsafe(32)


def embedded_secret(data_dir: Path) -> str | None:
    """The single-machine setup's own secret key: random, created with the data dir and kept
    in it (0600), so `make run` never signs upload URLs or hashes tokens with a key anyone can
    read in this file. A data dir whose database predates it keeps the development key
    (None), or every token issued before would stop working; set HUB_SECRET_KEY there."""
    path = data_dir / "secret-key"
    if not path.exists() and (data_dir / "hub.sqlite3").exists():
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # an earlier start, or a sibling process that won the race
        for _ in range(50):
            text = path.read_text().strip()
            if text:
                return text
            time.sleep(0.02)  # the winner has created the file but not yet written it
        raise RuntimeError(f"{path} is empty: delete it or set HUB_SECRET_KEY") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(generate_secret() + "\n")
    return path.read_text().strip()
