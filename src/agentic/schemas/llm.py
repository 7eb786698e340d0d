"""LLM provider credentials."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, StringConstraints

from agentic.schemas.common import Schema


class CredentialCreate(Schema):
    """Body of `POST /v1/provider-credentials`."""

    provider: Literal["openai", "anthropic"]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = "default"
    api_key: SecretStr = Field(min_length=1, max_length=4096)
    base_url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = Field(
        default=None, description="For OpenAI-compatible servers (vLLM, Ollama, Azure…)."
    )


class CredentialOut(BaseModel):
    """A stored credential: never the key, only its last characters."""

    id: uuid.UUID
    provider: str
    name: str
    key_hint: str
    base_url: str | None
    created_by_id: uuid.UUID | None
    created_at: dt.datetime
