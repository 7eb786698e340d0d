"""Cron schedules: agent runs queued on a cron expression."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from agentic.api.deps import SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import Principal, require
from agentic.db.models import Schedule
from agentic.db.types import utcnow
from agentic.schemas.common import error_responses
from agentic.schemas.schedules import (
    ScheduleCreate,
    ScheduleOut,
    SchedulePreview,
    SchedulePreviewOut,
    ScheduleUpdate,
)
from agentic.security.permissions import Permission
from agentic.services import agents as agents_service
from agentic.services import schedules as service

router = APIRouter(prefix=f"{API_PREFIX}/schedules", tags=["schedules"])

Reader = Annotated[Principal, require(Permission.AGENTS_READ)]
Writer = Annotated[Principal, require(Permission.AGENTS_WRITE)]


def _out(schedule: Schedule) -> ScheduleOut:
    return ScheduleOut(
        id=schedule.id,
        agent_id=schedule.agent_id,
        name=schedule.name,
        cron=schedule.cron,
        timezone=schedule.timezone,
        input=schedule.input,
        priority=schedule.priority,
        enabled=schedule.enabled,
        next_run_at=schedule.next_run_at,
        last_run_at=schedule.last_run_at,
        last_task_id=schedule.last_task_id,
        last_error=schedule.last_error,
        created_by_id=schedule.created_by_id,
        created_at=schedule.created_at,
    )


@router.get("", responses=error_responses(422), summary="List cron schedules")
async def list_schedules(
    principal: Reader, session: SessionDep, agent_id: Annotated[uuid.UUID | None, Query()] = None
) -> list[ScheduleOut]:
    """The organisation's schedules, of one agent when `agent_id` is given."""
    return [_out(s) for s in await service.list_schedules(session, agent_id=agent_id)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(404, 422),
    summary="Schedule an agent on a cron expression",
)
async def create_schedule(body: ScheduleCreate, principal: Writer, session: SessionDep) -> ScheduleOut:
    """Runs are created on the caller's behalf, with `input`, each time the expression fires.

    `input` must fit the agent's input schema now (422 with the field errors, as task creation answers).
    """
    # Only for an agent the caller can see: a private agent is someone else's to schedule.
    await agents_service.check_runnable(
        session,
        agent_id=body.agent_id,
        viewer=agents_service.Viewer(principal.user_id, principal.can(Permission.AGENTS_MANAGE)),
    )
    schedule = await service.create_schedule(
        session,
        actor=principal.actor(),
        agent_id=body.agent_id,
        name=body.name,
        cron=body.cron,
        timezone=body.timezone,
        input=body.input,
        priority=body.priority,
        enabled=body.enabled,
    )
    return _out(schedule)


@router.post("/preview", responses=error_responses(422), summary="Preview when a cron expression fires")
async def preview_schedule(body: SchedulePreview, _principal: Reader) -> SchedulePreviewOut:
    """The next runs of an expression in a time zone, before it is saved (checked as saving checks it)."""
    return SchedulePreviewOut(runs=service.next_fires(body.cron, body.timezone, utcnow(), body.count))


@router.get("/{schedule_id}", responses=error_responses(404), summary="Get a cron schedule")
async def get_schedule(schedule_id: uuid.UUID, principal: Reader, session: SessionDep) -> ScheduleOut:
    """A schedule of the organisation."""
    return _out(await service.get_schedule(session, schedule_id=schedule_id))


@router.patch("/{schedule_id}", responses=error_responses(403, 404, 422), summary="Change a cron schedule")
async def update_schedule(
    schedule_id: uuid.UUID, body: ScheduleUpdate, principal: Writer, session: SessionDep
) -> ScheduleOut:
    """One's own schedules; agent managers change anyone's. Disabling stops it from firing."""
    schedule = await service.get_schedule(session, schedule_id=schedule_id)
    schedule = await service.update_schedule(
        session,
        schedule=schedule,
        actor=principal.actor(),
        may_manage_all=principal.can(Permission.AGENTS_MANAGE),
        changes=body.model_dump(exclude_unset=True, exclude_none=True),
    )
    return _out(schedule)


@router.delete(
    "/{schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
    summary="Delete a cron schedule",
)
async def delete_schedule(schedule_id: uuid.UUID, principal: Writer, session: SessionDep) -> None:
    """One's own schedules; agent managers delete anyone's. Tasks it queued are kept."""
    schedule = await service.get_schedule(session, schedule_id=schedule_id)
    await service.delete_schedule(
        session,
        schedule=schedule,
        actor=principal.actor(),
        may_manage_all=principal.can(Permission.AGENTS_MANAGE),
    )
