"""The audit log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel


class AuditEventOut(BaseModel):
    """One audit record."""

    id: uuid.UUID
    created_at: dt.datetime
    action: str
    actor_type: str
    actor_id: uuid.UUID | None
    target_type: str | None
    target_id: str | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    """A page of audit records, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[AuditEventOut]
    next_cursor: str | None
