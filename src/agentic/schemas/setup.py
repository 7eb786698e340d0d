"""First-run setup: create the first administrator and organisation."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, EmailStr, Field, SecretStr, StringConstraints

from agentic.schemas.common import Schema
from agentic.security.passwords import MAX_PASSWORD_LENGTH


class SetupStatus(BaseModel):
    """Whether the installation still needs its first administrator."""

    needs_setup: bool


class SetupRequest(Schema):
    """Body of `POST /v1/setup`."""

    token: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        description="The one-time setup token printed in the server log on first start."
    )
    email: EmailStr
    password: SecretStr = Field(max_length=MAX_PASSWORD_LENGTH)
    organization_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SetupResult(BaseModel):
    """The administrator and organisation that setup created."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    email: str
