"""Usage over time: tokens and cost per day, for dashboards and budgets."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Task, UsageRecord
from agentic.db.types import utcnow


@dataclass(frozen=True, slots=True)
class UsageDay:
    """One UTC day's metered LLM usage."""

    day: dt.date
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


def _utc_day(session: AsyncSession) -> Any:
    # PostgreSQL's date() of a timestamptz uses the session's time zone: pin it to UTC (SQLite keeps UTC).
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return func.date(func.timezone("UTC", UsageRecord.created_at))
    return func.date(UsageRecord.created_at)


async def daily_usage(
    session: AsyncSession,
    *,
    days: int,
    owner_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
) -> list[UsageDay]:
    """The last `days` UTC days, oldest first, every day present (zeros where nothing ran).

    `owner_id` limits the usage to tasks that user created; the session's organisation scopes the rest.
    """
    today = utcnow().date()
    first = today - dt.timedelta(days=days - 1)
    day = _utc_day(session)
    statement = (
        select(
            day,
            func.count(),
            func.coalesce(func.sum(UsageRecord.input_tokens), 0),
            func.coalesce(func.sum(UsageRecord.output_tokens), 0),
            func.coalesce(func.sum(UsageRecord.cost_usd), 0),
        )
        .where(UsageRecord.created_at >= dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC))
        .group_by(day)
    )
    if owner_id is not None:
        statement = statement.where(
            UsageRecord.task_id.in_(select(Task.id).where(Task.created_by_id == owner_id))
        )
    if agent_id is not None:
        statement = statement.where(UsageRecord.agent_id == agent_id)
    found: dict[dt.date, UsageDay] = {}
    for raw_day, calls, input_tokens, output_tokens, cost in (await session.execute(statement)).all():
        parsed = raw_day if isinstance(raw_day, dt.date) else dt.date.fromisoformat(str(raw_day))
        found[parsed] = UsageDay(
            parsed, int(calls), int(input_tokens), int(output_tokens), Decimal(str(cost))
        )
    return [
        found.get(first + dt.timedelta(days=n)) or UsageDay(first + dt.timedelta(days=n), 0, 0, 0, Decimal(0))
        for n in range(days)
    ]
