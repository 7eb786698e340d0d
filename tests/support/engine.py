"""Shared set-up for engine tests: an organisation with one agent and its first version."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.db.models import (
    Agent,
    AgentVersion,
    Organization,
    Task,
    TaskApproval,
    TaskFile,
    TaskState,
)
from agentic.db.types import utcnow


async def seed_agent(
    sessions: async_sessionmaker[AsyncSession], *, slug: str = "engine"
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Create an organisation, an agent and its version 1 (empty config); their IDs."""
    async with sessions() as session:
        org = Organization(name=slug.title(), slug=slug, settings={})
        session.add(org)
        await session.flush()
        agent = Agent(org_id=org.id, name="runner")
        session.add(agent)
        await session.flush()
        version = AgentVersion(org_id=org.id, agent_id=agent.id, version=1, config={})
        session.add(version)
        await session.commit()
        return org.id, agent.id, version.id


async def park_for_approval(session: AsyncSession, *, task_id: uuid.UUID) -> uuid.UUID:
    """Put a queued task into `waiting` on a pending approval of a `python` call, as the agent loop would."""
    from agentic.engine import store

    # Claimed by a pretend worker: exactly this task, whatever else is queued.
    await session.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(
            state=TaskState.RUNNING,
            attempt=1,
            lease_owner="test-worker",
            lease_expires_at=utcnow() + dt.timedelta(minutes=5),
        )
    )
    lease = store.Lease(task_id=task_id, attempt=1, worker_id="test-worker")
    await store.wait(
        session,
        lease=lease,
        step_key="approval-1-1",
        position=1,
        until=utcnow() + dt.timedelta(hours=1),
        default={"approved": False},
        approval=store.ApprovalRequest(tool="python", arguments={"code": "print(1)"}, reason="gated"),
    )
    approval_id = await session.scalar(select(TaskApproval.id).where(TaskApproval.task_id == task_id))
    assert approval_id is not None
    return approval_id


async def add_task_file(session: AsyncSession, *, task_id: uuid.UUID) -> uuid.UUID:
    """An output file of the task (as if its `python` tool had written it)."""
    org_id = await session.scalar(select(Task.org_id).where(Task.id == task_id))
    assert org_id is not None
    row = TaskFile(
        org_id=org_id,
        task_id=task_id,
        direction="out",
        name="report.txt",
        size=2,
        sha256="0" * 64,
        content=b"hi",
        step_key="tool-1-1",
    )
    session.add(row)
    await session.commit()
    return row.id
