"""API keys."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from agentic.schemas.common import Schema
from agentic.security.permissions import Scope


class ApiKeyCreate(Schema):
    """Body of `POST /v1/api-keys`."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))
    expires_at: dt.datetime | None = Field(default=None, description="Optional; must be in the future.")


class ApiKeyRotate(Schema):
    """Body of `POST /v1/api-keys/{key_id}/rotate`."""

    grace_seconds: int | None = Field(
        default=None, ge=0, le=30 * 86_400, description="How long the old key keeps working (default 24 h)."
    )


class ApiKeyOut(BaseModel):
    """An API key as listed: never its secret."""

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_by_id: uuid.UUID
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    rotated_from_id: uuid.UUID | None


class ApiKeyCreated(ApiKeyOut):
    """A new key: `key` is shown this once and cannot be retrieved later."""

    key: str
