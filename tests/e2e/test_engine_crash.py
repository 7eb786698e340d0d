"""The engine survives real process deaths: `kill -9` mid-step, and a worker frozen past its lease."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from agentic.config import Settings
from agentic.db.engine import create_engine, create_session_factory
from agentic.db.models import (
    Agent,
    AgentVersion,
    Organization,
    StepStatus,
    Task,
    TaskEvent,
    TaskStep,
)
from agentic.engine import store
from tests.support.processes import agentic_env, start_cli

pytestmark = pytest.mark.slow

FAST_RECOVERY = {
    "AGENTIC_WORKER_LEASE_S": "1.5",
    "AGENTIC_WORKER_REAP_INTERVAL_S": "0.3",
    "AGENTIC_WORKER_POLL_INTERVAL_S": "0.05",
    "AGENTIC_WORKER_SHUTDOWN_GRACE_S": "0",
    "AGENTIC_LOG_LEVEL": "INFO",
}


async def _seed(database_url: str, count: int, steps: list[dict[str, Any]], effects: Path) -> list[Any]:
    engine = create_engine(Settings(), url=database_url)
    sessions = create_session_factory(engine)
    try:
        async with sessions() as session:
            org = Organization(name="Crash", slug="crash", settings={})
            session.add(org)
            await session.flush()
            agent = Agent(org_id=org.id, name="crash")
            session.add(agent)
            await session.flush()
            version = AgentVersion(org_id=org.id, agent_id=agent.id, version=1, config={})
            session.add(version)
            await session.commit()
            ids = []
            for _ in range(count):
                task = await store.enqueue(
                    session,
                    org_id=org.id,
                    agent_id=agent.id,
                    agent_version_id=version.id,
                    runner="test.scripted",
                    input={"steps": steps, "effects_file": str(effects)},
                    max_attempts=50,
                    policy={"backoff_base_s": 0.05, "backoff_max_s": 0.2},
                )
                ids.append(task.id)
            return ids
    finally:
        await engine.dispose()


async def _snapshot(database_url: str) -> tuple[dict[str, int], list[TaskStep], dict[Any, int]]:
    engine = create_engine(Settings(), url=database_url)
    sessions = create_session_factory(engine)
    try:
        async with sessions() as session:
            states = {
                s.value: n
                for s, n in (
                    await session.execute(select(Task.state, func.count()).group_by(Task.state))
                ).all()
            }
            steps = list((await session.scalars(select(TaskStep))).all())
            succeeded = dict(
                (
                    await session.execute(
                        select(TaskEvent.task_id, func.count())
                        .where(TaskEvent.type == "task.succeeded")
                        .group_by(TaskEvent.task_id)
                    )
                ).all()
            )
            return states, steps, succeeded
    finally:
        await engine.dispose()


def _start_worker(tmp_path: Path, database_url: str, name: str) -> subprocess.Popen[bytes]:
    env = agentic_env(tmp_path / name, database_url, **FAST_RECOVERY)
    return start_cli("worker", "--concurrency", "10", env=env, log_path=tmp_path / f"{name}.log")


async def _wait_all_terminal(database_url: str, total: int, timeout_s: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    states: dict[str, int] = {}
    while time.monotonic() < deadline:
        states, _, _ = await _snapshot(database_url)
        if states.get("succeeded", 0) + states.get("failed", 0) + states.get("dead", 0) == total:
            return states
        await asyncio.sleep(0.3)
    pytest.fail(f"tasks did not all finish: {states}")


@pytest.mark.usefixtures("backend")
async def test_kill_9_mid_step_loses_nothing_and_never_reruns_a_completed_step(
    tmp_path: Path, database_url: str
) -> None:
    effects = tmp_path / "effects.jsonl"
    steps = [{"key": f"s{i}", "sleep_ms": 120} for i in range(3)]
    total = 24
    await _seed(database_url, total, steps, effects)

    workers = {name: _start_worker(tmp_path, database_url, name) for name in ("w0", "w1")}
    kills = 0
    try:
        for round_ in range(5):
            await asyncio.sleep(0.8)
            victim = sorted(workers)[round_ % len(workers)]
            workers[victim].send_signal(signal.SIGKILL)  # no goodbye, leases left dangling
            workers[victim].wait(timeout=10)
            kills += 1
            workers[f"{victim}-r{round_}"] = _start_worker(tmp_path, database_url, f"{victim}-r{round_}")
            del workers[victim]
        states = await _wait_all_terminal(database_url, total, timeout_s=90)
    finally:
        for proc in workers.values():
            proc.send_signal(signal.SIGTERM)
        for proc in workers.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    assert kills == 5
    assert states == {"succeeded": total}, states  # every task finished; none lost, stuck or dead
    _, step_rows, succeeded_events = await _snapshot(database_url)
    assert all(count == 1 for count in succeeded_events.values())
    assert len(succeeded_events) == total
    assert {row.status for row in step_rows} == {StepStatus.SUCCEEDED}
    assert len(step_rows) == total * 3

    runs: Counter[tuple[str, str, int]] = Counter()
    for line in effects.read_text().splitlines():
        entry = json.loads(line)
        runs[(entry["task"], entry["step"], entry["attempt"])] += 1
    for row in step_rows:
        # The step's side effect happened exactly once in the attempt that completed it...
        assert runs[(str(row.task_id), row.step_key, row.attempt)] == 1
        # ...and never again in any later attempt: completed steps are replayed, not re-run.
        later = [k for k in runs if k[0] == str(row.task_id) and k[1] == row.step_key and k[2] > row.attempt]
        assert later == [], (row.task_id, row.step_key)


@pytest.mark.usefixtures("backend")
async def test_a_worker_frozen_past_its_lease_cannot_write(tmp_path: Path, database_url: str) -> None:
    effects = tmp_path / "effects.jsonl"
    (task_id,) = await _seed(database_url, 1, [{"key": "slow", "sleep_ms": 2500, "output": "done"}], effects)
    frozen = _start_worker(tmp_path, database_url, "frozen")
    try:
        deadline = time.monotonic() + 20
        while "step.started" not in await _event_types(database_url):
            if time.monotonic() > deadline:
                pytest.fail("the first worker never started the step")
            await asyncio.sleep(0.1)
        os.kill(frozen.pid, signal.SIGSTOP)  # a GC pause, a VM freeze: the lease runs out
        rescuer = _start_worker(tmp_path, database_url, "rescuer")
        try:
            await _wait_all_terminal(database_url, 1, timeout_s=30)
            os.kill(frozen.pid, signal.SIGCONT)  # wakes up, finishes its sleep, tries to write
            await asyncio.sleep(4)
        finally:
            rescuer.send_signal(signal.SIGTERM)
            rescuer.wait(timeout=20)
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
        frozen.send_signal(signal.SIGTERM)
        frozen.wait(timeout=20)

    states, steps, succeeded = await _snapshot(database_url)
    assert states == {"succeeded": 1}
    assert succeeded == {task_id: 1}  # completed exactly once
    assert [(s.step_key, s.attempt, s.status) for s in steps] == [("slow", 2, StepStatus.SUCCEEDED)]
    assert "engine.lease_lost" in (tmp_path / "frozen.log").read_text()


async def _event_types(database_url: str) -> list[str]:
    engine = create_engine(Settings(), url=database_url)
    try:
        async with create_session_factory(engine)() as session:
            return list((await session.scalars(select(TaskEvent.type))).all())
    finally:
        await engine.dispose()


async def test_three_workers_on_postgres_one_killed_its_tasks_finish_elsewhere(
    tmp_path: Path, postgres_database_url: str
) -> None:
    """Several worker machines share one PostgreSQL (SQLite is the single-machine default)."""
    database_url = postgres_database_url
    effects = tmp_path / "effects.jsonl"
    total = 60  # more than the three workers hold at once (10 each), long enough for all three to start
    await _seed(database_url, total, [{"key": "work", "sleep_ms": 1500}], effects)
    workers = {name: _start_worker(tmp_path, database_url, name) for name in ("a", "b", "c")}
    try:
        # Let every worker pick up work, then kill one in the middle of it.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            owners = await _lease_owners(database_url)
            if len(owners) >= 3:
                break
            await asyncio.sleep(0.05)
        owners = await _lease_owners(database_url)
        assert len(owners) == 3, owners
        victim_id = sorted(owners)[0]
        victim = next(name for name in workers if f":{workers[name].pid}:" in victim_id)
        orphaned = owners[victim_id]
        workers[victim].send_signal(signal.SIGKILL)
        workers[victim].wait(timeout=10)
        killed_at = time.monotonic()
        while victim_id in await _lease_owners(database_url):
            assert time.monotonic() - killed_at < 30
            await asyncio.sleep(0.05)
        reclaimed_within = time.monotonic() - killed_at
        states = await _wait_all_terminal(database_url, total, timeout_s=60)
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in workers.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert states == {"succeeded": total}
    assert orphaned >= 1
    # The dead worker's tasks are taken back within the lease (1.5 s) plus one reaper interval (0.3 s),
    # with a second of slack for a busy CI machine.
    assert reclaimed_within < 1.5 + 0.3 + 1.0, reclaimed_within


async def _lease_owners(database_url: str) -> Counter[str]:
    engine = create_engine(Settings(), url=database_url)
    try:
        async with create_session_factory(engine)() as session:
            rows = (
                await session.scalars(select(Task.lease_owner).where(Task.lease_owner.is_not(None)))
            ).all()
            return Counter(owner for owner in rows if owner is not None)
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("backend")
async def test_sigterm_finishes_work_within_grace_and_releases_the_rest(
    tmp_path: Path, database_url: str
) -> None:
    effects = tmp_path / "effects.jsonl"
    quick = await _seed(database_url, 2, [{"key": "short", "sleep_ms": 1000}], effects)
    env = agentic_env(
        tmp_path / "w", database_url, **(FAST_RECOVERY | {"AGENTIC_WORKER_SHUTDOWN_GRACE_S": "5"})
    )
    worker = start_cli("worker", "--concurrency", "4", env=env, log_path=tmp_path / "w.log")
    try:
        await _until_event(database_url, "task.started")  # mid-step: steps start with the attempt
        worker.send_signal(signal.SIGTERM)  # stop claiming, let the running steps finish
        assert worker.wait(timeout=20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    states, _, _ = await _snapshot(database_url)
    assert states == {"succeeded": len(quick)}, states
    assert "worker.draining" in (tmp_path / "w.log").read_text()


@pytest.mark.usefixtures("backend")
async def test_sigterm_past_grace_releases_tasks_to_another_worker(tmp_path: Path, database_url: str) -> None:
    effects = tmp_path / "effects.jsonl"
    (task_id,) = await _seed(database_url, 1, [{"key": "long", "sleep_ms": 3000}], effects)
    env = agentic_env(
        tmp_path / "w", database_url, **(FAST_RECOVERY | {"AGENTIC_WORKER_SHUTDOWN_GRACE_S": "0.2"})
    )
    worker = start_cli("worker", "--concurrency", "4", env=env, log_path=tmp_path / "w.log")
    try:
        await _until_event(database_url, "task.started")  # mid-step: steps start with the attempt
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert "task.released" in await _event_types(database_url)  # handed back at once, not left to expire
    successor = _start_worker(tmp_path, database_url, "successor")
    try:
        await _wait_all_terminal(database_url, 1, timeout_s=30)
    finally:
        successor.send_signal(signal.SIGTERM)
        successor.wait(timeout=20)
    states, _steps, succeeded = await _snapshot(database_url)
    assert states == {"succeeded": 1}
    assert succeeded == {task_id: 1}


async def _until_event(database_url: str, event_type: str, timeout_s: float = 20) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if event_type in await _event_types(database_url):
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"no {event_type} event within {timeout_s}s")
