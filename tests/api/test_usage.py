"""Usage per day and queue health, scoped to the organisation (and to one's own tasks without read_all)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import AgentVersion, Role, Task, TaskState, UsageRecord
from agentic.db.types import utcnow
from agentic.engine import store
from agentic.resources import Resources
from tests.api.test_tasks import make_agent
from tests.support.accounts import make_account, make_org

pytestmark = pytest.mark.usefixtures("backend")


async def test_daily_usage_and_queue_stats(
    client: httpx.AsyncClient, db: AsyncSession, resources: Resources
) -> None:
    org = await make_org(db)
    user = await make_account(db, resources, org=org, role=Role.USER)
    operator = await make_account(db, resources, org=org, role=Role.OPERATOR)
    stranger = await make_account(db, resources, org=await make_org(db), role=Role.ADMIN)
    agent = await make_agent(db, user)
    version = (await db.scalars(select(AgentVersion).where(AgentVersion.agent_id == agent.id))).one()
    mine = await store.enqueue(
        db,
        org_id=org.id,
        agent_id=agent.id,
        agent_version_id=version.id,
        input={},
        created_by_id=user.user.id,
    )
    theirs = await store.enqueue(
        db,
        org_id=org.id,
        agent_id=agent.id,
        agent_version_id=version.id,
        input={},
        created_by_id=operator.user.id,
    )
    now = utcnow()
    yesterday = now - dt.timedelta(days=1)
    for task, when, tokens, cost in [
        (mine, now, (10, 5), "0.01"),
        (mine, yesterday, (100, 50), "0.10"),
        (theirs, now, (1000, 500), "1.00"),
    ]:
        db.add(
            UsageRecord(
                org_id=org.id,
                agent_id=agent.id,
                task_id=task.id,
                provider="openai",
                model="gpt-4o",
                input_tokens=tokens[0],
                output_tokens=tokens[1],
                cost_usd=Decimal(cost),
                outcome="ok",
                created_at=when,
            )
        )
    await db.execute(update(Task).where(Task.id == theirs.id).values(state=TaskState.DEAD))
    await db.commit()

    own = (await client.get("/v1/usage/daily?days=3", headers=user.headers)).json()
    assert [d["day"] for d in own] == [(now.date() - dt.timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert [(d["calls"], d["input_tokens"], d["output_tokens"]) for d in own] == [
        (0, 0, 0),
        (1, 100, 50),
        (1, 10, 5),
    ]
    assert own[2]["cost_usd"] == pytest.approx(0.01)
    everyone = (await client.get("/v1/usage/daily?days=1", headers=operator.headers)).json()
    assert (everyone[0]["calls"], everyone[0]["input_tokens"]) == (2, 1010)
    assert everyone[0]["cost_usd"] == pytest.approx(1.01)
    other_org = (await client.get("/v1/usage/daily?days=3", headers=stranger.headers)).json()
    assert sum(d["calls"] for d in other_org) == 0

    stats = (await client.get("/v1/queues/stats", headers=operator.headers)).json()
    assert stats["by_state"]["queued"] == 1
    assert stats["by_state"]["dead"] == 1
    assert set(stats["by_state"]) >= {
        "queued",
        "running",
        "waiting",
        "succeeded",
        "failed",
        "cancelled",
        "dead",
    }
    assert (await client.get("/v1/queues/stats", headers=stranger.headers)).json()["by_state"]["queued"] == 0
    assert (await client.get("/v1/queues/stats", headers=user.headers)).status_code == 403
