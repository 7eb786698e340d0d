"""Cron schedules: CRUD for the API, and `fire_due`, which the workers' scheduler loop runs.

A schedule fires at most once per fire time, whichever and however many workers run the loop: the advance of
`next_run_at` is a guarded UPDATE only one can win, it commits in the same transaction as the task it
queues, and the task's idempotency key (`schedule:<id>:<fire time>`) would turn a second insert into a
replay anyway. Fire times missed while no worker ran are coalesced into one run, then the schedule carries on
from now (a day of downtime does not queue 1,440 runs of a per-minute schedule).
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

from croniter import CroniterBadDateError, croniter
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Agent, AgentVersion, Membership, Schedule
from agentic.db.tenancy import ORG_ID_KEY, bind_session_to_org
from agentic.db.types import utcnow
from agentic.errors import AgenticError, InvalidInput, NotFound, PermissionDenied
from agentic.logging import get_logger
from agentic.prompts import validate_input
from agentic.security.permissions import ROLE_PERMISSIONS, Permission
from agentic.services.audit import Actor
from agentic.services.tasks import create_task
from agentic.tracing import new_traceparent

log = get_logger("agentic.schedules")


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"Unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Paris'.",
            details=[{"loc": ["body", "timezone"]}],
        ) from None


def next_fire(cron: str, timezone: str, after: dt.datetime) -> dt.datetime:
    """The first time strictly after `after` at which `cron` fires, read in `timezone`; returned in UTC."""
    if not croniter.is_valid(cron) or len(cron.split()) != 5:
        raise InvalidInput(
            f"{cron!r} is not a five-field cron expression (minute hour day month weekday).",
            details=[{"loc": ["body", "cron"]}],
        )
    local = after.astimezone(_zone(timezone))
    try:
        fired: dt.datetime = croniter(cron, local).get_next(dt.datetime)
    except CroniterBadDateError:
        # Valid syntax for a date that never comes (30 February): croniter gives up searching.
        raise InvalidInput(
            f"{cron!r} never fires (no such date).", details=[{"loc": ["body", "cron"]}]
        ) from None
    return fired.astimezone(dt.UTC)


async def _check_input(session: AsyncSession, agent: Agent, input: dict[str, Any]) -> None:
    """Refuse input the agent's current version would refuse: each fire would be skipped otherwise.

    Runs are queued with the agent's current version (as `create_task` does), so that version's input schema
    is the one to satisfy; the errors name the fields, as task creation's do.
    """
    config = await session.scalar(
        select(AgentVersion.config).where(
            AgentVersion.agent_id == agent.id, AgentVersion.version == agent.latest_version
        )
    )
    validate_input((config or {}).get("input_schema"), input, loc=["body", "input"])


def next_fires(cron: str, timezone: str, after: dt.datetime, count: int) -> list[dt.datetime]:
    """The next `count` fire times after `after`, as `next_fire` finds them (same checks and errors)."""
    runs: list[dt.datetime] = []
    for _ in range(count):
        after = next_fire(cron, timezone, runs[-1] if runs else after)
        runs.append(after)
    return runs


async def create_schedule(
    session: AsyncSession,
    *,
    actor: Actor,
    agent_id: uuid.UUID,
    name: str,
    cron: str,
    timezone: str,
    input: dict[str, Any],
    priority: int,
    enabled: bool,
) -> Schedule:
    """Create a schedule of an agent of the actor's organisation; it first fires at the next cron time."""
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.deleted_at is not None:
        raise NotFound("Agent not found.")
    assert actor.org_id is not None  # noqa: S101  # principals always act in an organisation
    first = next_fire(cron, timezone, utcnow())  # validates the expression and zone even when disabled
    await _check_input(session, agent, input)
    schedule = Schedule(
        org_id=actor.org_id,
        agent_id=agent_id,
        created_by_id=actor.user_id,
        name=name,
        cron=cron,
        timezone=timezone,
        input=input,
        priority=priority,
        enabled=enabled,
        next_run_at=first if enabled else None,
    )
    session.add(schedule)
    await session.flush()
    actor.audit(session, "schedule.created", target_type="schedule", target_id=str(schedule.id))
    await session.commit()
    return schedule


async def list_schedules(session: AsyncSession, *, agent_id: uuid.UUID | None) -> list[Schedule]:
    """The organisation's schedules (of one agent when given), oldest first."""
    statement = select(Schedule).order_by(Schedule.id)
    if agent_id is not None:
        statement = statement.where(Schedule.agent_id == agent_id)
    return list((await session.scalars(statement)).all())


async def get_schedule(session: AsyncSession, *, schedule_id: uuid.UUID) -> Schedule:
    """A schedule of the session's organisation, or `NotFound`."""
    schedule = await session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound("Schedule not found.")
    return schedule


def _check_owner(schedule: Schedule, actor: Actor, may_manage_all: bool) -> None:
    if not may_manage_all and schedule.created_by_id != actor.user_id:
        raise PermissionDenied("Only the schedule's creator or an agent manager can change it.")


async def update_schedule(
    session: AsyncSession,
    *,
    schedule: Schedule,
    actor: Actor,
    may_manage_all: bool,
    changes: dict[str, Any],
) -> Schedule:
    """Apply `changes`; a new expression, zone or re-enabling recomputes the next fire time from now.

    Other changes (name, input, priority) keep the pending fire time, so a run that is due is not skipped. New
    input, or re-enabling, is checked against the agent's input schema (it may have changed since); other
    changes are not, so a schedule whose input no longer fits can still be paused, renamed or deleted.
    """
    _check_owner(schedule, actor, may_manage_all)
    was_enabled = schedule.enabled
    following = next_fire(  # validates even when unchanged
        changes.get("cron", schedule.cron), changes.get("timezone", schedule.timezone), utcnow()
    )
    if "input" in changes or (changes.get("enabled") and not was_enabled):
        agent = await session.get(Agent, schedule.agent_id)
        if agent is not None and agent.deleted_at is None:
            await _check_input(session, agent, changes.get("input", schedule.input or {}))
    for field, value in changes.items():
        setattr(schedule, field, value)
    if not schedule.enabled:
        schedule.next_run_at = None
    elif {"cron", "timezone"} & changes.keys() or not was_enabled:
        schedule.next_run_at = following
    actor.audit(
        session,
        "schedule.updated",
        target_type="schedule",
        target_id=str(schedule.id),
        details={"fields": sorted(changes)},
    )
    await session.commit()
    return schedule


async def delete_schedule(
    session: AsyncSession, *, schedule: Schedule, actor: Actor, may_manage_all: bool
) -> None:
    """Delete a schedule (tasks it already queued are kept)."""
    _check_owner(schedule, actor, may_manage_all)
    await session.delete(schedule)
    actor.audit(session, "schedule.deleted", target_type="schedule", target_id=str(schedule.id))
    await session.commit()


async def _check_creator_may_run(session: AsyncSession, schedule: Schedule) -> None:
    """Runs are made on the creator's behalf: they must still be a member whose role may run tasks."""
    role = None
    if schedule.created_by_id is not None:
        role = await session.scalar(
            select(Membership.role).where(
                Membership.org_id == schedule.org_id, Membership.user_id == schedule.created_by_id
            )
        )
    if role is None or Permission.TASKS_RUN not in ROLE_PERMISSIONS[role]:
        raise PermissionDenied(
            "The schedule's creator is no longer allowed to run tasks in this organisation; "
            "recreate the schedule as a member who is."
        )


@dataclass(frozen=True, slots=True)
class Fired:
    """One schedule that fired: the task it queued, or why it could not."""

    schedule_id: uuid.UUID
    fire_at: dt.datetime
    task_id: uuid.UUID | None
    error: str | None = None


async def fire_due(session: AsyncSession, *, limit: int = 100) -> list[Fired]:
    """Queue a run of every enabled schedule whose time has come; safe to run from every worker at once."""
    now = utcnow()
    due = (
        await session.execute(
            select(Schedule.id, Schedule.org_id, Schedule.next_run_at)
            .where(Schedule.enabled.is_(True), Schedule.next_run_at <= now)
            .order_by(Schedule.next_run_at)
            .limit(limit)
        )
    ).all()
    fired: list[Fired] = []
    for schedule_id, org_id, fire_at in due:
        # Each run belongs to the schedule's organisation: scope the session to it (idempotency keys are
        # per organisation, and the agent lookup must not see another tenant's rows).
        bind_session_to_org(session.sync_session, org_id)
        assert fire_at is not None  # noqa: S101  # selected by next_run_at <= now
        result = await _fire_one(session, schedule_id=schedule_id, fire_at=fire_at, now=now)
        if result is not None:
            fired.append(result)
    session.info.pop(ORG_ID_KEY, None)
    return fired


async def _fire_one(
    session: AsyncSession, *, schedule_id: uuid.UUID, fire_at: dt.datetime, now: dt.datetime
) -> Fired | None:
    schedule = await session.get(Schedule, schedule_id, populate_existing=True)
    if schedule is None or schedule.next_run_at != fire_at or not schedule.enabled:
        await session.rollback()
        return None  # changed or fired by someone else meanwhile
    following = next_fire(schedule.cron, schedule.timezone, max(now, fire_at))
    advanced = await session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id, Schedule.next_run_at == fire_at)
        .values(next_run_at=following, last_run_at=now, last_error=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if advanced.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        return None  # another worker's scheduler fired it
    try:
        # Committed together with the advance above: the run and the schedule's progress land as one.
        await _check_creator_may_run(session, schedule)
        task, _created = await create_task(
            session,
            org_id=schedule.org_id,
            created_by_id=schedule.created_by_id,
            # Each run starts a trace of its own; the request ID names the schedule that queued it.
            request_id=f"schedule:{schedule_id}",
            traceparent=new_traceparent(),
            agent_id=schedule.agent_id,
            input=dict(schedule.input or {}),
            priority=schedule.priority,
            run_at=None,
            idempotency_key=f"schedule:{schedule_id}:{fire_at.strftime('%Y%m%dT%H%M%SZ')}",
            idempotency_window_s=7 * 24 * 3600,
        )
    except AgenticError as exc:
        # The agent is gone or busy (policy `reject`), or the creator may no longer run it: skip this fire
        # time, say why, keep the schedule.
        await session.rollback()
        await session.execute(
            update(Schedule)
            .where(Schedule.id == schedule_id, Schedule.next_run_at == fire_at)
            .values(next_run_at=following, last_run_at=now, last_error=f"{exc.code}: {exc.message}"[:500])
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        log.warning("schedule.fire_skipped", schedule_id=str(schedule_id), error=exc.code)
        return Fired(schedule_id, fire_at, None, exc.code)
    await session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id)
        .values(last_task_id=task.id)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    log.info("schedule.fired", schedule_id=str(schedule_id), task_id=str(task.id))
    return Fired(schedule_id, fire_at, task.id)
