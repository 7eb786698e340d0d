"""Fault injection at every durable write of the engine, on PostgreSQL (issue 13).

Each scenario arms a trigger that makes one chosen write fail (`tests/support/faults.py`) — the claim, a
heartbeat, each kind of step checkpoint, an event append, each outcome write (succeeded, failed, requeued,
waiting, cancelled, released) and the reaper's recovery — then runs a task through a real worker runtime.
After each: the task ends in its expected terminal state within its bound (at most lease + reap interval
beyond the run itself when the outcome was lost for good), and no completed step ran twice (every step that
completes appends a line to an effects file; each step appears exactly once).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.config import Settings, WorkerSettings
from agentic.db.engine import create_engine, create_session_factory
from agentic.db.models import Task, TaskState
from agentic.engine import store
from agentic.engine.worker import EngineSource
from agentic.workers.runtime import WorkerRuntime
from tests.conftest import make_settings
from tests.support import faults
from tests.support.engine import seed_agent
from tests.support.faults import Fault

pytestmark = pytest.mark.postgres

LEASE_S = 2.0
REAP_S = 0.25
WORKER = WorkerSettings(
    concurrency=2, poll_interval_s=0.05, lease_s=LEASE_S, reap_interval_s=REAP_S, shutdown_grace_s=0.01
)
# The run itself takes about 1.5 s (its long step sleeps 1.3 s); a lost outcome adds at most a lease and a
# reap interval, retries of a failed write a few seconds more.
BOUND_S = 15.0

STEPS: list[dict[str, Any]] = [
    {"key": "a"},  # quick: stored whole, in one insert
    {"key": "b", "event": "test.note"},  # appends an event while it runs (as streamed tokens do)
    {"key": "c", "sleep_ms": 1300},  # long: its start is stored while it runs, its end later
]
TERMINAL = {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.DEAD, TaskState.CANCELLED}
RUNNING_TO = "OLD.state = 'running' AND NEW.state = '{}'"


@dataclass
class Scenario:
    """One durable write made to fail, the task that exercises it, and what the task must end as."""

    faults: list[Fault]
    steps: list[dict[str, Any]] = field(default_factory=lambda: list(STEPS))
    expect: TaskState = TaskState.SUCCEEDED
    # Drives the scenario once the worker runs (cancel it, signal it, stop the worker…).
    act: Callable[[Harness, uuid.UUID], Awaitable[None]] | None = None
    expect_runs: int | None = None  # the run number the task ends on, when the scenario fixes it


@dataclass
class Harness:
    """A worker runtime on the test's PostgreSQL database, restartable like a real worker."""

    url: str
    sessions: async_sessionmaker[AsyncSession]
    runtime: WorkerRuntime | None = None
    source: EngineSource | None = None

    def start(self) -> None:
        self.source = EngineSource(self.sessions, WORKER)
        self.runtime = WorkerRuntime(WORKER, source=self.source)
        self.runtime.start()

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = self.source = None

    async def task(self, task_id: uuid.UUID) -> Task:
        async with self.sessions() as session:
            task = await session.get(Task, task_id)
            assert task is not None
            return task

    async def until(self, predicate: Callable[[Task], bool], task_id: uuid.UUID, timeout_s: float) -> Task:
        deadline = time.monotonic() + timeout_s
        while True:
            task = await self.task(task_id)
            if predicate(task) or time.monotonic() > deadline:
                return task
            await asyncio.sleep(0.05)


async def _step_running(h: Harness, task_id: uuid.UUID, key: str) -> None:
    from agentic.db.models import StepStatus, TaskStep

    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        async with h.sessions() as session:
            status = await session.scalar(
                TaskStep.__table__.select()
                .with_only_columns(TaskStep.status)
                .where(TaskStep.task_id == task_id, TaskStep.step_key == key)
            )
        if status == StepStatus.RUNNING:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"step {key} never started")


async def _cancel_mid_step(h: Harness, task_id: uuid.UUID) -> None:
    await _step_running(h, task_id, "c")
    async with h.sessions() as session:
        await store.request_cancel(session, task_id=task_id)


async def _signal_when_waiting(h: Harness, task_id: uuid.UUID) -> None:
    waiting = await h.until(lambda t: t.state is TaskState.WAITING, task_id, BOUND_S)
    assert waiting.state is TaskState.WAITING, waiting.state
    async with h.sessions() as session:
        assert await store.signal(session, task_id=task_id, step_key="w", payload={"ok": True})
        await session.commit()


async def _stop_mid_step_then_restart(h: Harness, task_id: uuid.UUID) -> None:
    await _step_running(h, task_id, "c")
    await h.stop()  # no grace: the running step is interrupted and the task released
    h.start()


async def _lose_the_outcome_for_good(h: Harness, task_id: uuid.UUID, fault: Fault) -> None:
    # The completion keeps failing until the job has given up (its lease no longer renewed)…
    for held in (True, False):  # first held by the worker, then let go
        for _ in range(int(BOUND_S / 0.02)):
            if h.source is None or (task_id in h.source._held) is held:
                break
            await asyncio.sleep(0.02)
    gave_up = time.monotonic()
    assert await faults.fired(h.url, fault) >= 2
    await faults.remove(h.url, fault)  # … then the database is healthy again; the reaper must recover it
    # Reclaimed within a lease and a reap interval of the job giving up: one more interval because the
    # reaper's own first write may fail too, and a second of slack for a loaded CI machine.
    bound_s = LEASE_S + 2 * REAP_S + 1.0
    reclaimed = await h.until(lambda t: t.state is not TaskState.RUNNING or t.attempt > 1, task_id, bound_s)
    waited = time.monotonic() - gave_up
    assert reclaimed.state is not TaskState.RUNNING or reclaimed.attempt > 1, (reclaimed.state, waited)
    assert waited < bound_s, waited


COMPLETE_FOREVER = Fault("complete_lost", "tasks", "UPDATE", RUNNING_TO.format("succeeded"), times=1_000)
CANCEL_FOREVER = Fault("cancel_lost", "tasks", "UPDATE", RUNNING_TO.format("cancelled"), times=1_000)


async def _cancel_then_lose(h: Harness, task_id: uuid.UUID) -> None:
    await _cancel_mid_step(h, task_id)
    await _lose_the_outcome_for_good(h, task_id, CANCEL_FOREVER)


SCENARIOS: dict[str, Scenario] = {
    "claim": Scenario(
        [Fault("claim", "tasks", "UPDATE", "OLD.state = 'queued' AND NEW.state = 'running'")],
        expect_runs=1,
    ),
    "claim_event": Scenario(
        [Fault("claim_event", "task_events", "INSERT", "NEW.type = 'task.started'")], expect_runs=1
    ),
    "heartbeat": Scenario(
        [
            Fault(
                "heartbeat",
                "tasks",
                "UPDATE",
                "OLD.state = 'running' AND NEW.state = 'running' AND NEW.last_event_seq = OLD.last_event_seq"
                " AND NEW.lease_expires_at IS DISTINCT FROM OLD.lease_expires_at",
            )
        ],
        expect_runs=1,  # one failed heartbeat must not lose the lease
    ),
    "step_whole": Scenario(
        [Fault("step_whole", "task_steps", "INSERT", "NEW.step_key = 'a'")], expect_runs=1
    ),
    "step_start": Scenario(
        [Fault("step_start", "task_steps", "INSERT", "NEW.step_key = 'c' AND NEW.status = 'running'")],
        expect_runs=1,
    ),
    "step_end": Scenario(
        [Fault("step_end", "task_steps", "UPDATE", "NEW.step_key = 'c' AND NEW.status = 'succeeded'")],
        expect_runs=1,
    ),
    "event_append": Scenario(
        [Fault("event_append", "task_events", "INSERT", "NEW.type = 'test.note'")], expect_runs=1
    ),
    # The same writes when the server ends the session under them (what `pg_terminate_backend` sends): the
    # pool must throw the connection away and the retry go through a fresh one.
    "step_whole_session_ended": Scenario(
        [Fault("step_whole_57p01", "task_steps", "INSERT", "NEW.step_key = 'a'", sqlstate="57P01")],
        expect_runs=1,
    ),
    "succeeded_session_ended": Scenario(
        [Fault("succeeded_57p01", "tasks", "UPDATE", RUNNING_TO.format("succeeded"), sqlstate="57P01")],
        expect_runs=1,
    ),
    "succeeded": Scenario(
        [Fault("succeeded", "tasks", "UPDATE", RUNNING_TO.format("succeeded"))], expect_runs=1
    ),
    "requeued": Scenario(
        [Fault("requeued", "tasks", "UPDATE", RUNNING_TO.format("queued"))],
        steps=[{"key": "a", "fail_times": 1}, *STEPS[1:]],
        expect_runs=2,
    ),
    "failed": Scenario(
        [Fault("failed", "tasks", "UPDATE", RUNNING_TO.format("failed"))],
        steps=[{"key": "a"}, {"key": "b", "fail_times": 1, "fatal": True}],
        expect=TaskState.FAILED,
        expect_runs=1,
    ),
    # The last try fails: the task goes dead (to the dead-letter queue); that write fails once.
    "dead": Scenario(
        [Fault("dead", "tasks", "UPDATE", RUNNING_TO.format("dead"))],
        steps=[{"key": "a"}, {"key": "b", "fail_times": 10}],
        expect=TaskState.DEAD,
        expect_runs=3,
    ),
    "waiting": Scenario(
        [Fault("waiting", "tasks", "UPDATE", RUNNING_TO.format("waiting"))],
        steps=[{"key": "a"}, {"key": "w", "wait": {"timeout_s": 60}}, {"key": "b"}],
        act=_signal_when_waiting,
        expect_runs=2,
    ),
    "cancelled": Scenario(
        [Fault("cancelled", "tasks", "UPDATE", RUNNING_TO.format("cancelled"))],
        steps=[{"key": "a"}, {"key": "c", "sleep_ms": 5000}],
        act=_cancel_mid_step,
        expect=TaskState.CANCELLED,
        expect_runs=1,
    ),
    "released": Scenario(
        [Fault("released", "tasks", "UPDATE", RUNNING_TO.format("queued"))],
        act=_stop_mid_step_then_restart,
        expect_runs=2,
    ),
    # The outcome cannot be stored at all until the job gives up: the lease is no longer renewed, the reaper
    # (whose own first write fails too) requeues the task, and the next run replays every stored step.
    "succeeded_lost_then_reaped": Scenario(
        [COMPLETE_FOREVER, Fault("reap", "tasks", "UPDATE", RUNNING_TO.format("queued"))],
        act=lambda h, task_id: _lose_the_outcome_for_good(h, task_id, COMPLETE_FOREVER),
        expect_runs=2,
    ),
    # The bug as reported: the cancellation could not be stored, and the task stayed `running` for ever. Now
    # the reaper finds it and, its cancellation being requested, cancels it rather than running it again.
    "cancelled_lost_then_reaped": Scenario(
        [CANCEL_FOREVER],
        steps=[{"key": "a"}, {"key": "c", "sleep_ms": 5000}],
        act=_cancel_then_lose,
        expect=TaskState.CANCELLED,
        expect_runs=1,
    ),
}


@pytest.fixture
async def harness(tmp_path: Path, postgres_database_url: str) -> AsyncIterator[Harness]:
    settings: Settings = make_settings(tmp_path, postgres_database_url)
    engine = create_engine(settings)
    h = Harness(postgres_database_url, create_session_factory(engine))
    try:
        yield h
    finally:
        await h.stop()
        await engine.dispose()


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_one_failed_durable_write_leaves_no_task_stuck_and_no_step_run_twice(
    name: str, harness: Harness, tmp_path: Path
) -> None:
    scenario = SCENARIOS[name]
    effects = tmp_path / "effects.jsonl"
    org_id, agent_id, version_id = await seed_agent(harness.sessions)
    for fault in scenario.faults:
        await faults.install(harness.url, fault)
    async with harness.sessions() as session:
        task = await store.enqueue(
            session,
            org_id=org_id,
            agent_id=agent_id,
            agent_version_id=version_id,
            runner="test.scripted",
            input={"steps": scenario.steps, "effects_file": str(effects)},
            max_attempts=3,
        )
    started = time.monotonic()
    harness.start()
    if scenario.act is not None:
        await scenario.act(harness, task.id)
    done = await harness.until(lambda t: t.state in TERMINAL, task.id, BOUND_S)
    elapsed = time.monotonic() - started

    for fault in scenario.faults:
        assert await faults.fired(harness.url, fault) >= 1, f"the {fault.name} write never happened"
    assert done.state is scenario.expect, (name, done.state, done.error)
    assert elapsed < BOUND_S
    if scenario.expect_runs is not None:
        assert done.attempt == scenario.expect_runs, (name, done.attempt)
    ran = (
        Counter(json.loads(line)["step"] for line in effects.read_text().splitlines())
        if effects.exists()
        else Counter()
    )
    completed = {s["key"] for s in scenario.steps if "wait" not in s}
    if scenario.expect is TaskState.SUCCEEDED:
        assert set(ran) == completed, ran
    assert all(count == 1 for count in ran.values()), f"a completed step ran twice: {ran}"
