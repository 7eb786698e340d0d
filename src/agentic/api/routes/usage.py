"""What the organisation used (tokens and cost per day) and how its queue is doing."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from agentic.api.deps import SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import Principal, require
from agentic.engine.store import queue_stats
from agentic.schemas.common import error_responses
from agentic.schemas.usage import QueueStatsOut, UsageDayOut
from agentic.security.permissions import Permission
from agentic.services import usage as service

router = APIRouter(prefix=API_PREFIX, tags=["usage"])

Reader = Annotated[Principal, require(Permission.TASKS_READ)]
QueueReader = Annotated[Principal, require(Permission.QUEUES_READ)]


@router.get("/usage/daily", responses=error_responses(422), summary="LLM tokens and cost per day")
async def daily_usage(
    principal: Reader,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    agent_id: uuid.UUID | None = None,
) -> list[UsageDayOut]:
    """The last `days` UTC days, oldest first, zeros included.

    One's own tasks' usage; the whole organisation's with tasks:read_all.
    """
    owner = None if principal.can(Permission.TASKS_READ_ALL) else principal.user_id
    rows = await service.daily_usage(session, days=days, owner_id=owner, agent_id=agent_id)
    return [
        UsageDayOut(
            day=r.day,
            calls=r.calls,
            input_tokens=r.input_tokens,
            output_tokens=r.output_tokens,
            cost_usd=float(r.cost_usd),
        )
        for r in rows
    ]


@router.get(
    "/queues/stats", summary="The organisation's tasks by state (queue depth, running, waiting, dead)"
)
async def stats(_principal: QueueReader, session: SessionDep) -> QueueStatsOut:
    """Counted now; the session's organisation scopes every count."""
    found = await queue_stats(session)
    return QueueStatsOut(
        by_state=found.by_state,
        oldest_queued_age_s=found.oldest_queued_age_s,
        expired_leases=found.expired_leases,
    )
