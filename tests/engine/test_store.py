"""The engine's durable state on both backends: claims, leases, the reaper, fencing, steps and events."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.config import Settings, WorkerSettings
from agentic.db.engine import create_engine, create_session_factory
from agentic.db.models import (
    Agent,
    AgentVersion,
    AttemptStatus,
    Organization,
    StepStatus,
    Task,
    TaskAttempt,
    TaskEvent,
    TaskState,
    TaskStep,
)
from agentic.db.types import utcnow
from agentic.engine import store
from agentic.engine.checkpoints import CheckpointWriter
from agentic.engine.runners import RunContext, StepInfo
from agentic.engine.store import LeaseLost
from agentic.engine.worker import EngineSource
from agentic.workers.runtime import WorkerRuntime
from tests.support.engine import seed_agent

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
async def sessions(settings: Settings) -> Any:
    engine = create_engine(settings)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def agent(sessions: async_sessionmaker[AsyncSession]) -> tuple[Any, Any, Any]:
    return await seed_agent(sessions)


async def _enqueue(
    sessions: async_sessionmaker[AsyncSession], agent: tuple[Any, Any, Any], **kwargs: Any
) -> Task:
    org_id, agent_id, version_id = agent
    kwargs.setdefault("runner", "test.scripted")
    kwargs.setdefault("input", {"steps": []})
    async with sessions() as session:
        return await store.enqueue(
            session, org_id=org_id, agent_id=agent_id, agent_version_id=version_id, **kwargs
        )


async def _state(sessions: async_sessionmaker[AsyncSession], task_id: Any) -> Task:
    async with sessions() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        return task


async def _expire_leases(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        await session.execute(update(Task).values(lease_expires_at=utcnow() - dt.timedelta(seconds=1)))
        await session.commit()


async def test_claim_is_exclusive_and_ordered(sessions: async_sessionmaker[AsyncSession], agent: Any) -> None:
    low = await _enqueue(sessions, agent)
    high = await _enqueue(sessions, agent, priority=5)
    later = await _enqueue(sessions, agent, run_at=utcnow() + dt.timedelta(hours=1))
    async with sessions() as session:
        first = await store.claim(session, worker_id="w1", limit=1, lease_s=30)
    async with sessions() as session:
        second = await store.claim(session, worker_id="w2", limit=10, lease_s=30)
    assert [lease.task_id for lease in first] == [high.id]
    assert [lease.task_id for lease in second] == [low.id]  # the delayed one is not runnable yet
    assert (await _state(sessions, later.id)).state is TaskState.QUEUED
    claimed = await _state(sessions, high.id)
    assert (claimed.state, claimed.attempt, claimed.lease_owner) == (TaskState.RUNNING, 1, "w1")


async def test_concurrent_claimers_never_share_a_task(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    for _ in range(30):
        await _enqueue(sessions, agent)

    async def claimer(worker: str) -> list[Any]:
        got: list[Any] = []
        for _ in range(10):
            async with sessions() as session:
                got += [
                    lease.task_id
                    for lease in await store.claim(session, worker_id=worker, limit=3, lease_s=30)
                ]
        return got

    results = await asyncio.gather(*(claimer(f"w{i}") for i in range(4)))
    everything = [task_id for got in results for task_id in got]
    assert len(everything) == 30
    assert len(set(everything)) == 30


async def test_expired_lease_is_requeued_then_dead(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    task = await _enqueue(
        sessions, agent, max_attempts=2, policy={"backoff_base_s": 0.01, "backoff_max_s": 0.01}
    )
    for expected_attempt in (1, 2):
        async with sessions() as session:
            leases = await store.claim(session, worker_id="doomed", limit=1, lease_s=30)
        assert leases[0].attempt == expected_attempt
        await _expire_leases(sessions)
        async with sessions() as session:
            assert await store.reap(session) == 1
        await asyncio.sleep(0.02)
    final = await _state(sessions, task.id)
    assert final.state is TaskState.DEAD
    assert final.error is not None
    assert final.error["code"] == "lease_expired"
    async with sessions() as session:
        statuses = (await session.scalars(select(TaskAttempt.status).order_by(TaskAttempt.attempt))).all()
    assert statuses == [AttemptStatus.LOST, AttemptStatus.LOST]


async def test_fencing_rejects_a_stalled_worker(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    task = await _enqueue(sessions, agent, policy={"backoff_base_s": 0.001, "backoff_max_s": 0.001})
    async with sessions() as session:
        (stale,) = await store.claim(session, worker_id="stalled", limit=1, lease_s=30)
    await _expire_leases(sessions)
    async with sessions() as session:
        await store.reap(session)
    await asyncio.sleep(0.01)
    async with sessions() as session:
        (fresh,) = await store.claim(session, worker_id="successor", limit=1, lease_s=30)
    assert fresh.attempt == stale.attempt + 1

    # The stalled worker wakes up: every write it tries is rejected.
    writer = CheckpointWriter(sessions)
    step: dict[str, Any] = {"step_key": "a", "position": 1, "kind": "t", "name": "a", "input": None}
    with pytest.raises(LeaseLost):
        await writer.complete(lease=stale, output={"from": "stale"})
    with pytest.raises(LeaseLost):
        await writer.step(lease=stale, started_at=utcnow(), exists=False, phase="start", **step)
    with pytest.raises(LeaseLost):
        await writer.event(lease=stale, type="note", data={})
    async with sessions() as session:
        with pytest.raises(LeaseLost):
            await store.fail(session, lease=stale, error={"code": "x"}, retryable=True)
    await writer.complete(lease=fresh, output={"from": "successor"})
    done = await _state(sessions, task.id)
    assert (done.state, done.output) == (TaskState.SUCCEEDED, {"from": "successor"})


async def test_a_batch_of_checkpoints_commits_all_but_the_one_whose_lease_was_lost(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    kept_task = await _enqueue(sessions, agent)
    stale_task = await _enqueue(sessions, agent)
    async with sessions() as session:
        leases = {
            lease.task_id: lease for lease in await store.claim(session, worker_id="w", limit=2, lease_s=30)
        }
        # Another worker took the second task over (its lease expired and was reclaimed).
        await session.execute(update(Task).where(Task.id == stale_task.id).values(lease_owner="successor"))
        await session.commit()
    writer = CheckpointWriter(sessions)
    step: dict[str, Any] = {
        "position": 1,
        "kind": "t",
        "name": "s",
        "input": None,
        "started_at": utcnow(),
        "exists": False,
    }
    results = await asyncio.gather(
        writer.step(lease=leases[kept_task.id], step_key="s", output=1, **step),
        writer.step(lease=leases[stale_task.id], step_key="s", output=2, **step),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], LeaseLost)
    async with sessions() as session:
        stored = (await session.execute(select(TaskStep.task_id, TaskStep.output))).all()
        events = (
            await session.scalars(select(TaskEvent.type).where(TaskEvent.task_id == stale_task.id))
        ).all()
    assert stored == [(kept_task.id, 1)]
    assert "step.succeeded" not in events


async def test_heartbeat_extends_only_its_own_leases(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    mine, theirs = await _enqueue(sessions, agent), await _enqueue(sessions, agent)
    async with sessions() as session:
        held = await store.claim(session, worker_id="a", limit=1, lease_s=1)
        await store.claim(session, worker_id="b", limit=1, lease_s=1)
    forged = store.Lease(task_id=theirs.id, attempt=1, worker_id="a")  # b's task, not a's
    async with sessions() as session:
        assert await store.heartbeat(session, leases=[*held, forged], lease_s=600) == 1
    leases = {
        t.lease_owner: t.lease_expires_at
        for t in [await _state(sessions, mine.id), await _state(sessions, theirs.id)]
    }
    assert leases["a"] is not None
    assert leases["b"] is not None
    assert leases["a"] > utcnow() + dt.timedelta(seconds=300)
    assert leases["b"] < utcnow() + dt.timedelta(seconds=5)


async def test_events_are_numbered_without_gaps(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    task = await _enqueue(sessions, agent)

    async def add(i: int) -> None:
        async with sessions() as session:
            await store.append_event(session, task_id=task.id, type="log", data={"i": i})
            await session.commit()

    # SQLite serialises writers; PostgreSQL's row lock on the counter does the same for one task.
    for batch in range(4):
        await asyncio.gather(*(add(batch * 5 + i) for i in range(5)))
    async with sessions() as session:
        seqs = (
            await session.scalars(
                select(TaskEvent.seq).where(TaskEvent.task_id == task.id).order_by(TaskEvent.seq)
            )
        ).all()
    assert seqs == list(range(1, 22))


async def test_cancel_queued_and_running(sessions: async_sessionmaker[AsyncSession], agent: Any) -> None:
    queued = await _enqueue(sessions, agent)
    async with sessions() as session:
        assert await store.request_cancel(session, task_id=queued.id) is TaskState.CANCELLED
    running = await _enqueue(sessions, agent)
    async with sessions() as session:
        (lease,) = await store.claim(session, worker_id="w", limit=1, lease_s=30)
    async with sessions() as session:
        assert await store.request_cancel(session, task_id=running.id) is TaskState.RUNNING
        assert await store.cancellations_for(session, worker_id="w") == [running.id]
        await store.mark_cancelled(session, lease=lease)
    assert (await _state(sessions, running.id)).state is TaskState.CANCELLED


async def _run_all(
    sessions: async_sessionmaker[AsyncSession],
    *,
    concurrency: int = 4,
    until: Any = None,
    runners: dict[str, Any] | None = None,
) -> None:
    settings = WorkerSettings(concurrency=concurrency, poll_interval_s=0.02, lease_s=30, reap_interval_s=0.05)
    runtime = WorkerRuntime(settings, source=EngineSource(sessions, settings, runners=runners))
    runtime.start()
    try:
        for _ in range(500):
            async with sessions() as session:
                states = (await session.scalars(select(Task.state))).all()
            if all(
                s in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.DEAD, TaskState.CANCELLED)
                for s in states
            ):
                return
            await asyncio.sleep(0.02)
        pytest.fail(f"tasks did not finish: {states}")
    finally:
        await runtime.stop()


async def test_completed_steps_replay_instead_of_rerunning(
    sessions: async_sessionmaker[AsyncSession], agent: Any, tmp_path: Path
) -> None:
    effects = tmp_path / "effects.jsonl"
    steps = [
        {"key": "first", "output": 1},
        {"key": "second", "output": 2, "fail_times": 1},
        {"key": "third", "output": 3},
    ]
    task = await _enqueue(
        sessions,
        agent,
        input={"steps": steps, "effects_file": str(effects)},
        policy={"backoff_base_s": 0.01, "backoff_max_s": 0.01},
    )
    await _run_all(sessions)
    done = await _state(sessions, task.id)
    assert done.state is TaskState.SUCCEEDED
    assert done.output == {"steps": [1, 2, 3]}
    assert done.attempt == 2
    executed = [json.loads(line)["step"] for line in effects.read_text().splitlines()]
    # "first" completed in attempt 1 and was replayed, not re-run, in attempt 2.
    assert executed == ["first", "second", "third"]


async def test_retries_exhausted_go_dead_and_fatal_errors_fail(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    flaky = await _enqueue(
        sessions,
        agent,
        input={"steps": [{"key": "s", "fail_times": 9}]},
        max_attempts=3,
        policy={"backoff_base_s": 0.01, "backoff_max_s": 0.01},
    )
    fatal = await _enqueue(sessions, agent, input={"steps": [{"key": "s", "fail_times": 9, "fatal": True}]})
    unknown = await _enqueue(sessions, agent, runner="no.such.runner")
    await _run_all(sessions)
    assert (await _state(sessions, flaky.id)).state is TaskState.DEAD
    assert (await _state(sessions, flaky.id)).attempt == 3
    assert (await _state(sessions, fatal.id)).state is TaskState.FAILED
    failed = await _state(sessions, unknown.id)
    assert failed.state is TaskState.FAILED
    assert failed.error is not None
    assert failed.error["code"] == "unknown_runner"


async def test_the_agent_policy_decides_which_error_classes_are_retried(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    fast = {"backoff_base_s": 0.01, "backoff_max_s": 0.01}
    only_rate_limits = {**fast, "retryable_errors": ["rate_limited"]}
    # A transient error of a class the agent does not retry fails at once …
    transient = await _enqueue(
        sessions, agent, input={"steps": [{"key": "s", "fail_times": 9}]}, policy=only_rate_limits
    )
    # … and a class it lists is retried even when the error itself says it is final.
    listed = await _enqueue(
        sessions,
        agent,
        input={"steps": [{"key": "s", "fail_times": 1, "fatal": True, "code": "rate_limited"}]},
        policy=only_rate_limits,
    )
    never = await _enqueue(
        sessions,
        agent,
        input={"steps": [{"key": "s", "fail_times": 9, "code": "timeout"}]},
        policy={**fast, "non_retryable_errors": ["timeout"]},
    )
    await _run_all(sessions)
    assert [
        (t.state, t.attempt) for t in [await _state(sessions, x.id) for x in (transient, listed, never)]
    ] == [
        (TaskState.FAILED, 1),
        (TaskState.SUCCEEDED, 2),
        (TaskState.FAILED, 1),
    ]
    assert store.retry_decision(None, "anything", True) is True
    assert store.retry_decision({}, "anything", False) is False


async def test_many_tasks_through_the_worker_runtime(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    ids = [
        (await _enqueue(sessions, agent, input={"steps": [{"key": "a", "sleep_ms": 5}, {"key": "b"}]})).id
        for _ in range(40)
    ]
    await _run_all(sessions, concurrency=16)
    async with sessions() as session:
        states = set((await session.scalars(select(Task.state).where(Task.id.in_(ids)))).all())
        events = (
            await session.scalars(
                select(TaskEvent.type).where(TaskEvent.task_id == ids[0]).order_by(TaskEvent.seq)
            )
        ).all()
    assert states == {TaskState.SUCCEEDED}
    assert events == [
        "task.created",
        "task.started",
        "step.started",
        "step.succeeded",
        "step.started",
        "step.succeeded",
        "task.succeeded",
    ]


async def test_a_long_step_is_seen_starting_and_a_quick_one_is_stored_in_one_commit(
    sessions: async_sessionmaker[AsyncSession], agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentic.engine import runners

    monkeypatch.setattr(runners, "STEP_START_RECORD_AFTER_S", 0.2)
    task = await _enqueue(
        sessions, agent, input={"steps": [{"key": "quick"}, {"key": "long", "sleep_ms": 1500}]}
    )
    settings = WorkerSettings(concurrency=2, poll_interval_s=0.02, lease_s=30, reap_interval_s=0.05)
    runtime = WorkerRuntime(settings, source=EngineSource(sessions, settings))
    runtime.start()
    try:
        seen_running = False
        for _ in range(200):
            async with sessions() as session:
                steps = {
                    s.step_key: s.status
                    for s in (
                        await session.scalars(select(TaskStep).where(TaskStep.task_id == task.id))
                    ).all()
                }
            if steps.get("long") == StepStatus.RUNNING:
                seen_running = True  # recorded while the step still runs
                assert steps["quick"] == StepStatus.SUCCEEDED
                break
            await asyncio.sleep(0.02)
        assert seen_running
        for _ in range(200):
            if (await _state(sessions, task.id)).state is TaskState.SUCCEEDED:
                break
            await asyncio.sleep(0.02)
    finally:
        await runtime.stop()
    async with sessions() as session:
        events = (
            await session.execute(
                select(TaskEvent.type, TaskEvent.data)
                .where(TaskEvent.task_id == task.id)
                .order_by(TaskEvent.seq)
            )
        ).all()
    assert [(t, d.get("step")) for t, d in events] == [
        ("task.created", None),
        ("task.started", None),
        ("step.started", "quick"),
        ("step.succeeded", "quick"),
        ("step.started", "long"),
        ("step.succeeded", "long"),
        ("task.succeeded", None),
    ]


async def test_an_event_a_step_emits_comes_after_the_steps_start(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    """Streamed tokens of a quick step were logged before its `step.started` (issue 13)."""

    async def emitting(ctx: RunContext) -> Any:
        async def call(info: StepInfo) -> str:
            await ctx.event("llm.tokens", {"step": info.key, "text": "Hel"})
            await ctx.event("llm.tokens", {"step": info.key, "text": "lo"})
            return "Hello"

        return await ctx.step("llm-1", call, kind="llm")

    task = await _enqueue(sessions, agent, runner="test.emitting")
    await _run_all(sessions, concurrency=1, runners={"test.emitting": emitting})
    async with sessions() as session:
        events = (
            await session.scalars(
                select(TaskEvent.type).where(TaskEvent.task_id == task.id).order_by(TaskEvent.seq)
            )
        ).all()
    assert events == [
        "task.created",
        "task.started",
        "step.started",
        "llm.tokens",
        "llm.tokens",
        "step.succeeded",
        "task.succeeded",
    ]


async def test_a_run_the_database_interrupts_spends_no_attempt(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    """A dropped connection mid-run is the database's fault, not the task's: the try is given back."""
    runs: list[int] = []

    async def flaky(ctx: RunContext) -> Any:
        runs.append(ctx.lease.attempt)
        if len(runs) == 1:
            raise DBAPIError(
                "SELECT 1", None, ConnectionResetError("connection lost"), connection_invalidated=True
            )
        return "done"

    task = await _enqueue(sessions, agent, runner="test.flaky", max_attempts=1)
    await _run_all(sessions, concurrency=1, runners={"test.flaky": flaky})
    done = await _state(sessions, task.id)
    # Its only attempt was not spent by the interruption: it ran again (after a short pause) and succeeded.
    assert (done.state, done.output, done.tries, runs) == (TaskState.SUCCEEDED, "done", 1, [1, 2])


async def test_release_on_shutdown_does_not_cost_an_attempt(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    task = await _enqueue(sessions, agent, max_attempts=1)
    async with sessions() as session:
        (lease,) = await store.claim(session, worker_id="w", limit=1, lease_s=30)
    async with sessions() as session:
        await store.release(session, lease=lease, reason="shutdown")
    released = await _state(sessions, task.id)
    assert (released.state, released.tries, released.max_attempts) == (TaskState.QUEUED, 0, 1)
    async with sessions() as session:
        (again,) = await store.claim(session, worker_id="w2", limit=1, lease_s=30)
    assert again.attempt == 2  # a new run number (it fences the old one) …
    resumed = await _state(sessions, task.id)
    assert (resumed.tries, resumed.max_attempts) == (1, 1)  # … but still the first and only try
    async with sessions() as session:
        state = await store.fail(session, lease=again, error={"code": "boom"}, retryable=True)
    assert state is TaskState.DEAD  # that try was the last one: a release did not add any


WAIT_STEPS = [
    {"key": "before", "output": "b"},
    {"key": "approval", "wait": {"timeout_s": 600, "default": {"approved": False}}},
    {"key": "after", "output": "a"},
]


async def _run_until(
    sessions: async_sessionmaker[AsyncSession], predicate: Any, concurrency: int = 1
) -> None:
    settings = WorkerSettings(concurrency=concurrency, poll_interval_s=0.02, lease_s=30, reap_interval_s=0.05)
    runtime = WorkerRuntime(settings, source=EngineSource(sessions, settings))
    runtime.start()
    try:
        for _ in range(400):
            async with sessions() as session:
                if await predicate(session):
                    return
            await asyncio.sleep(0.02)
        pytest.fail("condition not reached")
    finally:
        await runtime.stop()  # "the worker restarts": nothing about the wait lives in this process


async def test_waiting_holds_no_slot_survives_a_restart_and_resumes_on_signal(
    sessions: async_sessionmaker[AsyncSession], agent: Any, tmp_path: Path
) -> None:
    effects = tmp_path / "effects.jsonl"
    waiting = await _enqueue(sessions, agent, input={"steps": WAIT_STEPS, "effects_file": str(effects)})
    other = await _enqueue(sessions, agent, input={"steps": [{"key": "x"}]})

    async def parked_and_other_done(session: AsyncSession) -> bool:
        a, b = (
            await session.get(Task, waiting.id, populate_existing=True),
            await session.get(Task, other.id, populate_existing=True),
        )
        return (
            a is not None
            and b is not None
            and a.state is TaskState.WAITING
            and b.state is TaskState.SUCCEEDED
        )

    # One slot: the second task runs while the first waits, so waiting holds no slot.
    await _run_until(sessions, parked_and_other_done, concurrency=1)

    async with sessions() as session:
        assert await store.signal(
            session, task_id=waiting.id, step_key="approval", payload={"approved": True}
        )
        assert not await store.signal(
            session, task_id=waiting.id, step_key="approval", payload={}
        )  # once only

    async def finished(session: AsyncSession) -> bool:
        task = await session.get(Task, waiting.id, populate_existing=True)
        return task is not None and task.state is TaskState.SUCCEEDED

    await _run_until(sessions, finished)  # a fresh worker resumes it from its checkpoints
    done = await _state(sessions, waiting.id)
    assert done.output == {"steps": ["b", {"signal": {"approved": True}}, "a"]}
    executed = [json.loads(line)["step"] for line in effects.read_text().splitlines()]
    assert executed == ["before", "after"]  # "before" was not re-run after the wait
    # Waiting neither used nor added an attempt: "attempt 1 of 3" before the wait and after it (issue 13).
    assert (done.attempt, done.tries, done.max_attempts) == (2, 1, 3)


async def test_a_wait_that_times_out_applies_its_default(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    steps = [{"key": "approval", "wait": {"timeout_s": 0.2, "default": {"approved": False}}}]
    task = await _enqueue(sessions, agent, input={"steps": steps})

    async def finished(session: AsyncSession) -> bool:
        row = await session.get(Task, task.id, populate_existing=True)
        return row is not None and row.state is TaskState.SUCCEEDED

    await _run_until(sessions, finished)
    done = await _state(sessions, task.id)
    assert done.output == {"steps": [{"timed_out": True, "signal": {"approved": False}}]}


async def test_per_agent_limit_holds_while_other_agents_proceed(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    org_id = agent[0]
    async with sessions() as session:
        free_agent = Agent(org_id=org_id, name="free")
        session.add(free_agent)
        await session.flush()
        free_version = AgentVersion(org_id=org_id, agent_id=free_agent.id, version=1, config={})
        session.add(free_version)
        await session.commit()
        free = (org_id, free_agent.id, free_version.id)
    limited = [(await _enqueue(sessions, agent, concurrency_limit=2)).id for _ in range(6)]
    others = [(await _enqueue(sessions, free)).id for _ in range(4)]

    async def claimer(worker: str) -> list[Any]:
        async with sessions() as session:
            return [
                lease.task_id for lease in await store.claim(session, worker_id=worker, limit=10, lease_s=30)
            ]

    claimed = [t for got in await asyncio.gather(*(claimer(f"w{i}") for i in range(4))) for t in got]
    assert len([t for t in claimed if t in limited]) == 2  # exactly the limit, even with concurrent claimers
    assert {t for t in claimed if t in others} == set(others)  # the other agent is not held back
    async with sessions() as session:
        assert await store.claim(session, worker_id="w9", limit=10, lease_s=30) == []
        running = await session.get(Task, next(t for t in claimed if t in limited))
        assert running is not None
        assert running.lease_owner is not None
        lease = store.Lease(task_id=running.id, attempt=running.attempt, worker_id=running.lease_owner)
    await CheckpointWriter(sessions).complete(lease=lease, output=None)
    async with sessions() as session:
        again = await store.claim(session, worker_id="w9", limit=10, lease_s=30)
    assert [lease.task_id in limited for lease in again] == [True]  # one slot freed, one more runs


async def test_an_agents_tasks_with_and_without_a_limit_are_claimed_alike_on_both_backends(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    # The older task was created before the agent had a limit; the newer one carries a limit of 1.
    older = await _enqueue(sessions, agent)
    newer = await _enqueue(sessions, agent, concurrency_limit=1)
    async with sessions() as session:
        claimed = [lease.task_id for lease in await store.claim(session, worker_id="w", limit=10, lease_s=30)]
    assert claimed == [older.id]  # the older one runs, and it takes the agent's only slot
    async with sessions() as session:
        assert await store.claim(session, worker_id="w", limit=10, lease_s=30) == []
    assert (await _state(sessions, newer.id)).state is TaskState.QUEUED


async def _another_org(
    sessions: async_sessionmaker[AsyncSession], slug: str
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A second organisation with an agent and its version 1 (as the `agent` fixture's tuple)."""
    async with sessions() as session:
        org = Organization(name=slug.title(), slug=slug, settings={})
        session.add(org)
        await session.flush()
        other_agent = Agent(org_id=org.id, name=slug[0])
        session.add(other_agent)
        await session.flush()
        version = AgentVersion(org_id=org.id, agent_id=other_agent.id, version=1, config={})
        session.add(version)
        await session.commit()
        return org.id, other_agent.id, version.id


async def test_claims_are_fair_across_organisations(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    big = [(await _enqueue(sessions, agent)).id for _ in range(10)]
    small = await _another_org(sessions, "small")
    late = [(await _enqueue(sessions, small)).id for _ in range(2)]  # queued after the big backlog
    async with sessions() as session:
        first = [lease.task_id for lease in await store.claim(session, worker_id="w", limit=4, lease_s=30)]
    assert set(late) <= set(first)  # the small organisation is served in the first round, not after 10 tasks
    assert len([t for t in first if t in big]) == 2


async def test_a_deep_queue_does_not_starve_another_organisation(
    sessions: async_sessionmaker[AsyncSession], agent: Any
) -> None:
    """On PostgreSQL a claim ranks only the head of each agent's queue (its cost does not grow with a queue's
    depth); the ranking must still be the whole queue's: a task of another organisation, enqueued behind 60
    of a busy one's (three times a claim's head of 20), is served in the very next claim."""
    big = [(await _enqueue(sessions, agent)).id for _ in range(60)]
    late = (await _enqueue(sessions, await _another_org(sessions, "other"))).id
    urgent = (await _enqueue(sessions, agent, priority=5)).id

    async def claim(limit: int) -> list[Any]:
        async with sessions() as session:
            return [
                lease.task_id for lease in await store.claim(session, worker_id="w", limit=limit, lease_s=30)
            ]

    assert await claim(1) == [urgent]  # priority first, however deep the queue behind it
    assert set(await claim(2)) == {big[0], late}  # each organisation's best task, in the first round
    assert await claim(3) == big[1:4]
