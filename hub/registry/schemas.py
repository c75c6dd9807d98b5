from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from hub.registry.models import FileKind, Runtime, Visibility

SHA256 = Field(pattern=r"^[0-9a-f]{64}$")


class EnvironmentOut(BaseModel):
    id: uuid.UUID
    owner: str
    name: str
    full_name: str
    visibility: Visibility
    description: str
    tags: list[str]
    runtime: Runtime
    latest_version: str | None
    downloads: int
    stars: int
    starred: bool = False
    created_at: datetime
    updated_at: datetime
    url: str


class EnvironmentPage(BaseModel):
    items: list[EnvironmentOut]
    total: int
    page: int
    per_page: int


class EnvironmentPatch(BaseModel):
    description: str | None = Field(default=None, max_length=2000)
    tags: list[str] | None = Field(default=None, max_length=20)
    visibility: Visibility | None = None


class FileOut(BaseModel):
    kind: FileKind
    filename: str
    sha256: str
    size: int
    upload_time: datetime
    download_url: str


class InstallOut(BaseModel):
    index_url: str = Field(description="Package-scoped simple index: serves only this package")
    owner_index_url: str
    pip: str
    uv: str
    envhub: str
    prime: str


class VersionSummary(BaseModel):
    version: str
    content_hash: str
    runtime: Runtime
    yanked: bool
    yanked_reason: str | None
    created_at: datetime
    size: int


class VersionOut(BaseModel):
    environment: str
    version: str
    content_hash: str
    runtime: Runtime
    description: str
    tags: list[str]
    license: str | None
    requires_python: str | None
    dependencies: list[str]
    readme: str
    yanked: bool
    yanked_reason: str | None
    created_at: datetime
    published_by: str | None
    visibility: Visibility
    files: list[FileOut]
    install: InstallOut


class YankIn(BaseModel):
    reason: str = Field(default="", max_length=500)


class TreeEntry(BaseModel):
    path: str
    size: int
    sha256: str


class FileContent(BaseModel):
    path: str
    size: int
    content: str
    encoding: Literal["utf-8", "base64"]
    truncated: bool


class TagCount(BaseModel):
    name: str
    count: int


class DailyCount(BaseModel):
    day: date
    count: int


# --- publishing -------------------------------------------------------------------------

class UploadFileIn(BaseModel):
    kind: FileKind
    filename: str = Field(min_length=1, max_length=255)
    sha256: str = SHA256
    size: int = Field(gt=0)


class UploadCreate(BaseModel):
    version: str = Field(min_length=1, max_length=64)
    content_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    visibility: Visibility = Visibility.PUBLIC
    files: list[UploadFileIn] = Field(min_length=1, max_length=2)


class UploadFileOut(BaseModel):
    id: uuid.UUID
    kind: FileKind
    filename: str
    upload_url: str


class UploadOut(BaseModel):
    id: uuid.UUID
    expires_at: datetime
    files: list[UploadFileOut]
    already_published: bool = False
    version: VersionOut | None = None


class AuditEventOut(BaseModel):
    id: uuid.UUID
    action: str = Field(description="delete-version, delete-environment, yank, unyank,"
                                    " visibility, fork")
    subject: str = Field(description="owner/name or owner/name@version")
    actor: str | None = Field(description="username; null once the account is deleted")
    details: dict[str, Any]
    created_at: datetime


class AuditPage(BaseModel):
    items: list[AuditEventOut]
    total: int
    page: int
    per_page: int
