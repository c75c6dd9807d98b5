from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub.accounts.models import Role, TokenScope


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    created_at: datetime


class MeOut(UserOut):
    email: str | None
    is_admin: bool


class ProfileUpdate(BaseModel):
    """Fields left out stay as they are."""

    email: str | None = Field(default=None, max_length=254,
                              description="An e-mail address; null or blank clears it.")


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024, description="At least 8 characters.")


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scope: TokenScope = TokenScope.READ
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scope: TokenScope
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret. Shown only once; store it now.")


class OrgCreate(BaseModel):
    name: str
    display_name: str | None = Field(default=None, max_length=128)


class MemberOut(BaseModel):
    username: str
    role: Role


class OrgOut(BaseModel):
    id: uuid.UUID
    name: str
    display_name: str | None
    created_at: datetime
    your_role: Role | None = None
    members: list[MemberOut] | None = Field(
        default=None, description="Only shown to members of the organization."
    )
    membership_public: bool | None = Field(
        default=None,
        description="Whether your membership shows on your public profile (members only).",
    )


class OrgRef(BaseModel):
    """An organization as listed on a member's public profile."""

    name: str
    display_name: str | None


class MembershipVisibility(BaseModel):
    public: bool = Field(description="Show this membership on your public profile.")


class MemberSet(BaseModel):
    role: Role


class SessionCreate(BaseModel):
    username: str
    password: str


class SessionOut(BaseModel):
    user: MeOut
    csrf_token: str


class OwnerOut(BaseModel):
    name: str
    kind: str
    display_name: str | None = None
    created_at: datetime
