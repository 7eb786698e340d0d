"""Shapes shared by every endpoint."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# The largest value of an INTEGER column (PostgreSQL's 4-byte integer): event numbers, versions, step
# positions. Every integer the API compares with such a column is bounded by it where it comes in (422), so no
# query ever sees a number its column cannot hold (SQLite overflowed past 2**63, PostgreSQL past this: 500s).
MAX_DB_INT = 2**31 - 1


class Schema(BaseModel):
    """Base of API schemas: unknown fields are rejected so typos fail loudly instead of being ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """The body of an error."""

    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """Every 4xx/5xx response: `{"error": {"code", "message", "details"}}`."""

    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the error envelope for the given statuses."""
    return {status: {"model": ErrorEnvelope} for status in statuses}
