"""Organisations, members and invitations."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, EmailStr, Field

from agentic.db.models import Role
from agentic.schemas.auth import Name
from agentic.schemas.common import Schema


class OrganizationOut(BaseModel):
    """An organisation, with the caller's role in it."""

    id: uuid.UUID
    name: str
    slug: str
    plan: str
    billing_email: str | None
    created_at: dt.datetime
    role: Role
    store_llm_content: bool = True


class OrganizationCreate(Schema):
    """Body of `POST /v1/orgs`."""

    name: Name


class OrganizationUpdate(Schema):
    """Body of `PATCH /v1/orgs/{org_id}`; omitted fields stay as they are."""

    name: Name | None = None
    billing_email: EmailStr | None = None
    store_llm_content: bool | None = Field(
        default=None, description="False: never store or log prompts and responses of this organisation."
    )


class MemberOut(BaseModel):
    """A member of the organisation."""

    user_id: uuid.UUID
    email: str
    display_name: str | None
    role: Role
    joined_at: dt.datetime


class MemberUpdate(Schema):
    """Body of `PATCH /v1/orgs/{org_id}/members/{user_id}`."""

    role: Role


class InvitationCreate(Schema):
    """Body of `POST /v1/orgs/{org_id}/invitations`."""

    email: EmailStr
    role: Role = Role.USER


class InvitationOut(BaseModel):
    """A pending invitation (its token only ever travels in the mail)."""

    id: uuid.UUID
    email: str
    role: Role
    invited_by_id: uuid.UUID | None
    created_at: dt.datetime
    expires_at: dt.datetime


class InvitationAccept(Schema):
    """Body of `POST /v1/invitations/accept`."""

    token: str
