"""Environments, their immutable versions, files, pending uploads, stars and downloads."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Computed,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from hub.kit.db import Base, CreatedMixin, IdMixin, string_enum, utcnow


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"


class Runtime(enum.StrEnum):
    V0 = "v0"
    V1 = "v1"
    UNKNOWN = "unknown"


class FileKind(enum.StrEnum):
    WHEEL = "wheel"
    SOURCE = "source"


class UploadState(enum.StrEnum):
    PENDING = "pending"
    FINALIZED = "finalized"
    FAILED = "failed"


class Environment(IdMixin, CreatedMixin, Base):
    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("owner_id", "normalized_name"),)

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("namespaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    normalized_name: Mapped[str] = mapped_column(String(100), index=True)
    visibility: Mapped[Visibility] = mapped_column(string_enum(Visibility, "visibility"))
    description: Mapped[str] = mapped_column(Text, default="")
    runtime: Mapped[Runtime] = mapped_column(
        string_enum(Runtime, "runtime"), default=Runtime.UNKNOWN
    )
    latest_version: Mapped[str | None] = mapped_column(String(64))
    # Denormalised for search: name, description, tags and the latest README.
    search_text: Mapped[str] = mapped_column(Text, default="")
    downloads: Mapped[int] = mapped_column(BigInteger, default=0)
    stars: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# PostgreSQL only: `search_text` as a tsvector, computed and stored by the database on every
# INSERT and UPDATE, with a GIN index, so a full-text search reads the index instead of
# running to_tsvector() over every README (hub.registry.catalog._text_match).
# It is a column of the table but not of the ORM mapping (so no statement the ORM writes
# names it), and SQLite has neither the column nor the index: the migration skips them there
# and migrations/env.py leaves objects marked POSTGRESQL_ONLY out of SQLite comparisons.
# The expression is spelled as PostgreSQL reports it back, so autogenerate sees no change.
POSTGRESQL_ONLY = "postgresql_only"
SEARCH_VECTOR_SQL = "to_tsvector('english'::regconfig, COALESCE(search_text, ''::text))"
search_vector = Column(
    "search_vector", TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True),
    info={POSTGRESQL_ONLY: True},
)
cast(Table, Environment.__table__).append_column(search_vector)
Index("ix_environments_search_vector", search_vector, postgresql_using="gin",
      info={POSTGRESQL_ONLY: True})


class EnvironmentTag(Base):
    __tablename__ = "environment_tags"

    environment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)


class Version(IdMixin, CreatedMixin, Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("environment_id", "version"),)

    environment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    runtime: Mapped[Runtime] = mapped_column(string_enum(Runtime, "runtime"))
    description: Mapped[str] = mapped_column(Text, default="")
    license: Mapped[str | None] = mapped_column(String(200))
    requires_python: Mapped[str | None] = mapped_column(String(100))
    dependencies: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    readme: Mapped[str] = mapped_column(Text, default="")
    yanked: Mapped[bool] = mapped_column(default=False)
    yanked_reason: Mapped[str | None] = mapped_column(Text)
    published_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class File(IdMixin, Base):
    __tablename__ = "files"

    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[FileKind] = mapped_column(string_enum(FileKind, "file_kind"))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    # Indexed for the blob collector's "is this key still referenced?" (hub.registry.blob_gc).
    blob_key: Mapped[str] = mapped_column(String(200), index=True)
    # PEP 658: the wheel's METADATA served beside it, identified by its own hash.
    metadata_sha256: Mapped[str | None] = mapped_column(String(64))
    metadata_key: Mapped[str | None] = mapped_column(String(200), index=True)
    upload_time: Mapped[datetime] = mapped_column(default=utcnow)


class SourceEntry(Base):
    """One file inside a version's source archive, for the source browser."""

    __tablename__ = "source_entries"

    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))


class Upload(IdMixin, CreatedMixin, Base):
    """A registered, not yet finalized publish. Swept when it expires."""

    __tablename__ = "uploads"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("namespaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    visibility: Mapped[Visibility] = mapped_column(string_enum(Visibility, "visibility"))
    state: Mapped[UploadState] = mapped_column(string_enum(UploadState, "upload_state"), index=True)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class UploadFile(IdMixin, Base):
    __tablename__ = "upload_files"
    __table_args__ = (UniqueConstraint("upload_id", "kind"),)

    upload_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"))
    kind: Mapped[FileKind] = mapped_column(string_enum(FileKind, "file_kind"))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    staging_key: Mapped[str] = mapped_column(String(200))
    received: Mapped[bool] = mapped_column(default=False)


class Star(CreatedMixin, Base):
    __tablename__ = "stars"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    environment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), primary_key=True
    )


class DailyDownloads(Base):
    __tablename__ = "daily_downloads"

    environment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditEvent(IdMixin, CreatedMixin, Base):
    """Destructive or notable registry actions (deletes, yanks), kept after the rows go."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject"),)

    action: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(300))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RetiredFilename(CreatedMixin, Base):
    """Filenames of deleted files: never reused, so a cached download cannot change meaning."""

    __tablename__ = "retired_filenames"

    environment_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255), primary_key=True)


class BlobCandidate(Base):
    """A content-addressed blob that may have lost its last reference.

    Written in the transaction that deletes a referencing file row, removed by a publish
    that references the blob again and by the collector (`hub.registry.blob_gc`).
    """

    __tablename__ = "blob_candidates"

    storage_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
