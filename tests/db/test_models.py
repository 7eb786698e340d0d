"""The schema's constraints hold on both backends."""

import datetime as dt

import pytest
from sqlalchemy import Uuid, bindparam, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import (
    Agent,
    AgentVersion,
    Membership,
    Organization,
    Role,
    Task,
    TaskEvent,
    TaskState,
    User,
)


async def _org_user_agent(session: AsyncSession) -> tuple[Organization, User, Agent, AgentVersion]:
    org = Organization(name="Acme", slug="acme", settings={"store_prompts": True})
    user = User(email="ada@example.com")
    session.add_all([org, user])
    await session.flush()
    agent = Agent(org_id=org.id, owner_id=user.id, name="Helper")
    session.add(agent)
    await session.flush()
    version = AgentVersion(
        org_id=org.id, agent_id=agent.id, version=1, config={"model": {"provider": "mock"}}
    )
    session.add(version)
    await session.flush()
    return org, user, agent, version


async def test_round_trip_types(session: AsyncSession) -> None:
    org, _user, agent, version = await _org_user_agent(session)
    task = Task(
        org_id=org.id,
        agent_id=agent.id,
        agent_version_id=version.id,
        input={"question": "¿Qué tal?", "n": [1, 2.5, None]},
    )
    session.add(task)
    await session.commit()
    session.expunge_all()

    loaded = await session.get_one(Task, task.id)
    assert loaded.state is TaskState.QUEUED
    assert loaded.input == {"question": "¿Qué tal?", "n": [1, 2.5, None]}
    assert loaded.run_at.tzinfo is not None
    assert loaded.run_at.utcoffset() == dt.timedelta(0)
    assert loaded.created_at <= dt.datetime.now(dt.UTC)


async def test_naive_datetimes_are_refused(session: AsyncSession) -> None:
    org, _user, agent, version = await _org_user_agent(session)
    session.add(
        Task(
            org_id=org.id,
            agent_id=agent.id,
            agent_version_id=version.id,
            run_at=dt.datetime(2026, 1, 1),  # deliberately naive
        )
    )
    with pytest.raises(StatementError, match="naive datetime"):
        await session.flush()


async def test_email_is_unique(session: AsyncSession) -> None:
    session.add(User(email="dup@example.com"))
    await session.commit()
    session.add(User(email="dup@example.com"))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_membership_is_unique_per_org_and_user(session: AsyncSession) -> None:
    org, user, _agent, _version = await _org_user_agent(session)
    session.add(Membership(org_id=org.id, user_id=user.id, role=Role.ADMIN))
    await session.commit()
    session.add(Membership(org_id=org.id, user_id=user.id, role=Role.USER))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_check_constraint_rejects_unknown_state(session: AsyncSession) -> None:
    org, _user, agent, version = await _org_user_agent(session)
    task = Task(org_id=org.id, agent_id=agent.id, agent_version_id=version.id)
    session.add(task)
    await session.commit()
    statement = text("UPDATE tasks SET state = 'exploded' WHERE id = :id").bindparams(
        bindparam("id", type_=Uuid)
    )
    with pytest.raises(IntegrityError):
        await session.execute(statement, {"id": task.id})


async def test_idempotency_key_unique_per_org_but_nulls_do_not_collide(session: AsyncSession) -> None:
    org, _user, agent, version = await _org_user_agent(session)
    common = {"org_id": org.id, "agent_id": agent.id, "agent_version_id": version.id}
    session.add_all([Task(**common), Task(**common), Task(**common, idempotency_key="k1")])
    await session.commit()
    session.add(Task(**common, idempotency_key="k1"))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_deleting_an_org_cascades_to_its_rows(session: AsyncSession) -> None:
    org, user, agent, version = await _org_user_agent(session)
    task = Task(org_id=org.id, agent_id=agent.id, agent_version_id=version.id)
    session.add(task)
    await session.flush()
    session.add(TaskEvent(task_id=task.id, seq=1, type="created", data={}))
    await session.commit()

    await session.execute(
        text("DELETE FROM organizations WHERE id = :id").bindparams(bindparam("id", type_=Uuid)),
        {"id": org.id},
    )
    await session.commit()
    session.expunge_all()
    assert (await session.scalars(select(Task))).all() == []
    assert (await session.scalars(select(TaskEvent))).all() == []
    assert (await session.scalars(select(Agent))).all() == []
    assert await session.get(User, user.id) is not None  # users outlive organisations


async def test_task_event_sequence_is_unique_per_task(session: AsyncSession) -> None:
    org, _user, agent, version = await _org_user_agent(session)
    task = Task(org_id=org.id, agent_id=agent.id, agent_version_id=version.id)
    session.add(task)
    await session.flush()
    session.add(TaskEvent(task_id=task.id, seq=1, type="created", data={}))
    await session.commit()
    session.add(TaskEvent(task_id=task.id, seq=1, type="duplicate", data={}))
    with pytest.raises(IntegrityError):
        await session.commit()


async def test_audit_log_is_append_only(session: AsyncSession) -> None:
    from agentic.db.models import AuditEvent

    event = AuditEvent(actor_type="system", action="test.created", details={})
    session.add(event)
    await session.commit()
    event_id = event.id
    statement = text("UPDATE audit_events SET action = 'test.rewritten' WHERE id = :id").bindparams(
        bindparam("id", type_=Uuid)
    )
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(statement, {"id": event_id})
    await session.rollback()
    # Retention may purge old records.
    purge = text("DELETE FROM audit_events WHERE id = :id").bindparams(bindparam("id", type_=Uuid))
    await session.execute(purge, {"id": event_id})
    await session.commit()
