"""Webhooks of an agent, their deliveries and attempts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentic.db.models import DeliveryStatus
from agentic.schemas.common import Schema

EventType = Literal["task.succeeded", "task.failed", "task.cancelled", "task.waiting_for_approval"]
_EVENTS = Field(
    min_length=1,
    max_length=4,
    description="Task events to receive: `task.succeeded`, `task.failed` (failed or dead), `task.cancelled`, "
    "`task.waiting_for_approval`.",
)


class WebhookCreate(Schema):
    """Body of `POST /v1/agents/{agent_id}/webhooks`."""

    url: str = Field(
        min_length=1, max_length=2048, description="https URL (http to loopback in dev and test)."
    )
    events: list[EventType] = _EVENTS
    description: str = Field(default="", max_length=500)
    enabled: bool = True


class WebhookUpdate(Schema):
    """Body of `PATCH /v1/agents/{agent_id}/webhooks/{webhook_id}`: given fields replace current ones."""

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=4)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class WebhookOut(BaseModel):
    """A webhook (its secret is never shown again after creation or rotation)."""

    id: uuid.UUID
    agent_id: uuid.UUID
    url: str
    events: list[str]
    description: str
    enabled: bool
    created_by_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookWithSecret(WebhookOut):
    """A webhook just created or whose secret was just rotated: the signing secret, shown this once."""

    secret: str = Field(description="`whsec_…`: verify the `webhook-signature` header with it. Shown once.")


class DeliveryOut(BaseModel):
    """One message to a webhook and where its delivery stands."""

    id: uuid.UUID
    webhook_id: uuid.UUID
    message_id: str = Field(
        description="The `webhook-id` header: the same on every attempt (deduplicate on it)."
    )
    task_id: uuid.UUID | None
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class AttemptOut(BaseModel):
    """One HTTP attempt of a delivery."""

    number: int
    started_at: dt.datetime
    duration_ms: int
    status_code: int | None
    response_body: str | None = Field(description="The start of the receiver's answer (2,000 characters).")
    error: str | None


class DeliveryDetail(DeliveryOut):
    """A delivery with its payload and every attempt."""

    payload: dict[str, Any]
    attempt_log: list[AttemptOut]


class DeliveryPage(BaseModel):
    """A page of deliveries, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[DeliveryOut]
    next_cursor: str | None
