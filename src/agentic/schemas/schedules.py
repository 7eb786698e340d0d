"""Cron schedules."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from agentic.schemas.common import Schema

_CRON = Field(
    min_length=9,
    max_length=120,
    description="Five-field cron expression (minute hour day-of-month month weekday), e.g. `*/15 * * * *`.",
)
_TIMEZONE = Field(max_length=64, description="IANA time zone the expression is read in, e.g. `Europe/Paris`.")


class ScheduleCreate(Schema):
    """Body of `POST /v1/schedules`."""

    agent_id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    cron: str = _CRON
    timezone: str = Field(default="UTC", max_length=64, description=_TIMEZONE.description)
    input: dict[str, Any] = Field(
        default_factory=dict,
        description="Each run's input, checked against the agent's input schema when saved (422 otherwise).",
    )
    priority: int = Field(default=0, ge=-100, le=100)
    enabled: bool = True


class SchedulePreview(Schema):
    """Body of `POST /v1/schedules/preview`: an expression not saved yet."""

    cron: str = _CRON
    timezone: str = Field(default="UTC", max_length=64, description=_TIMEZONE.description)
    count: int = Field(default=5, ge=1, le=20, description="How many of the next runs.")


class SchedulePreviewOut(BaseModel):
    """When an expression would fire next, in UTC."""

    runs: list[dt.datetime]


class ScheduleUpdate(Schema):
    """Body of `PATCH /v1/schedules/{schedule_id}`: only the fields given change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    cron: str | None = Field(default=None, min_length=9, max_length=120, description=_CRON.description)
    timezone: str | None = Field(default=None, max_length=64, description=_TIMEZONE.description)
    input: dict[str, Any] | None = Field(
        default=None, description="Checked against the agent's input schema, as is re-enabling."
    )
    priority: int | None = Field(default=None, ge=-100, le=100)
    enabled: bool | None = None


class ScheduleOut(BaseModel):
    """A schedule and when it fires next."""

    id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    cron: str
    timezone: str
    input: dict[str, Any]
    priority: int
    enabled: bool
    next_run_at: dt.datetime | None
    last_run_at: dt.datetime | None
    last_task_id: uuid.UUID | None
    last_error: str | None
    created_by_id: uuid.UUID | None
    created_at: dt.datetime
