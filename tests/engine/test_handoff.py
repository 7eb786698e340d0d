"""Local hand-off: a task created beside an idle worker starts without another database round trip."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.config import Settings, WorkerSettings
from agentic.db.engine import create_engine, create_session_factory
from agentic.db.models import Task, TaskEvent, TaskState
from agentic.engine import store
from agentic.engine.signals import SIGNALS_KEY, Signals
from agentic.engine.worker import EngineSource
from agentic.workers.runtime import WorkerRuntime
from tests.support.engine import seed_agent

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
async def world(settings: Settings) -> Any:
    engine = create_engine(settings)
    signals = Signals()
    sessions = create_session_factory(engine, info={SIGNALS_KEY: signals})
    org_id, agent_id, version_id = await seed_agent(sessions, slug="hand")
    # A slow poll: only the hand-off (or a wake-up) can start a task quickly.
    worker = WorkerSettings(concurrency=2, poll_interval_s=30, lease_s=30, reap_interval_s=30)
    source = EngineSource(sessions, worker)
    runtime = WorkerRuntime(worker, source=source)
    runtime.start()
    ids = {"org_id": org_id, "agent_id": agent_id, "agent_version_id": version_id, "runner": "test.scripted"}
    yield sessions, source, runtime, ids
    await runtime.stop()
    await engine.dispose()


async def _wait_state(sessions: async_sessionmaker[AsyncSession], task_id: Any, state: TaskState) -> None:
    for _ in range(300):
        async with sessions() as session:
            if await session.scalar(select(Task.state).where(Task.id == task_id)) is state:
                return
        await asyncio.sleep(0.01)
    pytest.fail(f"task never became {state}")


async def test_a_new_task_is_created_running_on_the_idle_local_worker(world: Any) -> None:
    sessions, source, runtime, ids = world
    async with sessions() as session:
        task = await store.enqueue(session, **ids, input={"steps": [{"key": "a"}]})
    assert task.state is TaskState.RUNNING
    assert task.lease_owner == runtime.worker_id
    assert source.reserved == 0
    await _wait_state(sessions, task.id, TaskState.SUCCEEDED)
    async with sessions() as session:
        events = (
            await session.execute(select(TaskEvent.seq, TaskEvent.type).where(TaskEvent.task_id == task.id))
        ).all()
    assert sorted(events) == [
        (1, "task.created"),
        (2, "task.started"),
        (3, "step.started"),
        (4, "step.succeeded"),
        (5, "task.succeeded"),
    ]


async def test_no_hand_off_past_a_backlog_over_a_limit_or_beyond_free_slots(world: Any) -> None:
    sessions, source, _runtime, ids = world
    slow = {"steps": [{"key": "s", "sleep_ms": 600}]}
    async with sessions() as session:
        first = await store.enqueue(session, **ids, input=slow)
    async with sessions() as session:
        second = await store.enqueue(session, **ids, input=slow)
    async with sessions() as session:
        # Both slots are taken: this one waits in the queue like any other task …
        third = await store.enqueue(session, **ids, input={"steps": []})
    async with sessions() as session:
        # … and a newer one is not handed over past it, even once a slot frees up.
        limited = await store.enqueue(session, **ids, input={"steps": []}, concurrency_limit=5)
    assert [t.state for t in (first, second)] == [TaskState.RUNNING, TaskState.RUNNING]
    assert [t.state for t in (third, limited)] == [TaskState.QUEUED, TaskState.QUEUED]
    for task in (first, second, third, limited):
        await _wait_state(sessions, task.id, TaskState.SUCCEEDED)
    assert source.reserved == 0


async def test_a_slot_reserved_by_a_transaction_that_fails_is_given_back(world: Any) -> None:
    sessions, source, _runtime, ids = world
    async with sessions() as session:
        await store.enqueue(session, **ids, input={"steps": []}, idempotency_key="k")
    async with sessions() as session:
        with pytest.raises(IntegrityError):
            await store.enqueue(session, **ids, input={"steps": []}, idempotency_key="k")
    assert source.reserved == 0
