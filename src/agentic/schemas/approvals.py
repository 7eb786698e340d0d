"""Approvals of gated tool calls."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentic.db.models import ApprovalStatus
from agentic.schemas.common import Schema


class ApprovalDecision(Schema):
    """Body of `POST /v1/tasks/{task_id}/approvals/{approval_id}`."""

    decision: Literal["approve", "deny"]
    comment: str | None = Field(default=None, max_length=2000, description="Why; stored and audited.")


class ApprovalOut(BaseModel):
    """A request to approve one tool call, with the exact arguments the model gave."""

    id: uuid.UUID
    task_id: uuid.UUID
    step_key: str
    tool: str
    arguments: dict[str, Any]
    reason: str = Field(description="Why approval is needed: the tool is gated, or which rule matched.")
    status: ApprovalStatus
    requested_at: dt.datetime
    expires_at: dt.datetime = Field(description="After this the default applies: the call is denied.")
    decided_at: dt.datetime | None
    decided_by_id: uuid.UUID | None
    comment: str | None


class ApprovalPage(BaseModel):
    """A page of approvals, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[ApprovalOut]
    next_cursor: str | None
