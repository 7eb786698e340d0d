"""Faults under load, against the real `agentic serve` (uvloop, in-process workers, default settings).

- Redis stopped mid-load: `/readyz` stays 200 and reports Redis degraded (body and metrics), the API keeps
  answering, tasks finish by polling, and signals resume once Redis is back.
- PostgreSQL connections terminated in rounds (`pg_terminate_backend`) under load: never a 500, only 503 with
  `Retry-After`, and every task whose creation answered 201 finishes.

Each test prints its figures (run with `-s` to see them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import select

from agentic.config import Settings
from agentic.db.engine import create_engine, create_session_factory
from agentic.db.models import Task
from tests.support import services
from tests.support.processes import agentic_env, start_cli
from tests.support.services import free_port

pytestmark = pytest.mark.slow

ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "fault injection horse battery"  # a throwaway test account
TERMINAL = {"succeeded", "failed", "cancelled", "dead"}
CLIENTS = 4


@pytest.fixture(autouse=True)
def _quiet_http_client() -> Iterator[None]:
    """Thousands of requests: httpx's line per request would bury the figures."""
    logger = logging.getLogger("httpx")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


# --- the platform as processes -----------------------------------------------------------------------


@dataclass
class Process:
    """A started `agentic` process and where its output goes."""

    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Everything the process has printed so far."""
        return self.log.read_text(errors="replace")


def _stop(process: Process, timeout_s: float = 20) -> None:
    if process.proc.poll() is None:
        process.proc.send_signal(signal.SIGTERM)
        try:
            process.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.proc.kill()
            process.proc.wait(timeout=timeout_s)


@contextlib.contextmanager
def _running(*args: str, env: dict[str, str], log: Path) -> Iterator[Process]:
    process = Process(start_cli(*args, env=env, log_path=log), log)
    try:
        yield process
    finally:
        _stop(process)


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    return agentic_env(
        tmp_path / "data",
        database_url,
        AGENTIC_ADMIN_EMAIL=ADMIN_EMAIL,
        AGENTIC_ADMIN_PASSWORD=ADMIN_PASSWORD,
        AGENTIC_LOG_LEVEL="INFO",
        # What `make run` and a deployment without AGENTIC_ENV run: the default environment, not "test".
        AGENTIC_ENV="dev",
        **extra,
    )


async def _wait_ready(base: str, process: Process, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.proc.poll() is not None:
                pytest.fail(f"server exited with {process.proc.returncode}:\n{process.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    pytest.fail(f"not ready within {timeout_s}s:\n{process.output()}")


async def _sign_in_and_make_agent(client: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    login = await client.post("/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    headers = {"authorization": f"Bearer {login.json()['access_token']}"}
    agent = await client.post(
        "/v1/agents",
        json={
            "name": "Echo under faults",
            "model": {"provider": "mock", "name": "echo", "options": {"tokens_per_second": 2000}},
            # A generous rate limit: task creation then goes through the throttle (Redis when configured).
            "policies": {"runs_per_minute": 100_000},
        },
        headers=headers,
    )
    assert agent.status_code == 201, agent.text
    return headers, str(agent.json()["id"])


# --- load ------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the load saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    by_route: Counter[tuple[str, int]] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    retry_after: Counter[str] = field(default_factory=Counter)
    codes_503: Counter[str] = field(default_factory=Counter)

    def record(self, route: str, response: httpx.Response) -> None:
        """Count one response; keep the details of any that breaks the rules."""
        status = response.status_code
        self.statuses[status] += 1
        self.by_route[(route, status)] += 1
        if status == 503:
            self.retry_after[response.headers.get("retry-after", "<missing>")] += 1
            self.codes_503[_error_code(response)] += 1
            if "retry-after" not in response.headers:
                self.unexpected.append(f"{route} 503 without Retry-After: {response.text[:300]}")
        elif status >= 500:
            self.unexpected.append(f"{route} {status}: {response.text[:300]}")

    @property
    def requests(self) -> int:
        """Responses received."""
        return sum(self.statuses.values())


def _error_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "<not an error envelope>"


async def _client_loop(
    client: httpx.AsyncClient, headers: dict[str, str], agent_id: str, stop: asyncio.Event, tally: Tally
) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        try:
            created = await client.post(
                "/v1/tasks", json={"agent_id": agent_id, "input": {"message": f"hello {n}"}}, headers=headers
            )
            tally.record("POST /v1/tasks", created)
            if created.status_code == 201:
                task_id = str(created.json()["id"])
                tally.accepted.append(task_id)
                tally.record("GET /v1/tasks/{id}", await client.get(f"/v1/tasks/{task_id}", headers=headers))
            tally.record("GET /v1/tasks", await client.get("/v1/tasks", params={"limit": 5}, headers=headers))
        except httpx.TransportError as exc:
            tally.transport_errors.append(f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def _load(base: str, headers: dict[str, str], agent_id: str) -> AsyncIterator[Tally]:
    """`CLIENTS` concurrent clients creating tasks and reading them back until the block ends."""
    tally = Tally()
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        loops = [
            asyncio.create_task(_client_loop(client, headers, agent_id, stop, tally)) for _ in range(CLIENTS)
        ]
        try:
            yield tally
        finally:
            stop.set()
            await asyncio.gather(*loops)


async def _states(database_url: str, ids: list[str]) -> dict[str, str]:
    engine = create_engine(Settings(), url=database_url)
    try:
        async with create_session_factory(engine)() as session:
            rows = (await session.execute(select(Task.id, Task.state).where(Task.id.in_(ids)))).all()
            return {str(task_id): state.value for task_id, state in rows}
    finally:
        await engine.dispose()


async def _wait_finished(database_url: str, ids: list[str], timeout_s: float) -> tuple[dict[str, str], float]:
    """Every task's state once all are terminal (or at the deadline), and how long that took."""
    start = time.monotonic()
    states: dict[str, str] = {}
    while time.monotonic() - start < timeout_s:
        states = await _states(database_url, ids)
        if len(states) == len(ids) and all(state in TERMINAL for state in states.values()):
            break
        await asyncio.sleep(0.5)
    return states, time.monotonic() - start


def _unfinished_report(states: dict[str, str], ids: list[str], logs: list[Process]) -> str:
    stuck = {
        task_id: states.get(task_id, "<missing>") for task_id in ids if states.get(task_id) not in TERMINAL
    }
    lines = [f"{len(stuck)} accepted tasks did not finish: {dict(Counter(stuck.values()))}"]
    for task_id in list(stuck)[:5]:
        lines.append(f"--- {task_id} ({stuck[task_id]})")
        for process in logs:
            lines += [line for line in process.output().splitlines() if task_id in line][-10:]
    return "\n".join(lines)


# --- Redis stopped mid-load -------------------------------------------------------------------------


@dataclass
class ReadinessLog:
    """What `/readyz` answered, in order, and in which phase."""

    seen: list[tuple[str, int, str | None, str | None]] = field(default_factory=list)

    def phase(self, name: str) -> list[tuple[int, str | None, str | None]]:
        """(status code, body status, Redis check status) of the answers of one phase."""
        return [(code, body, redis) for phase, code, body, redis in self.seen if phase == name]


async def _watch_readiness(base: str, phase: list[str], log: ReadinessLog, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while not stop.is_set():
            response = await client.get("/readyz")
            body = response.json()
            checks = body.get("checks") or body.get("error", {}).get("details", {}).get("checks", {})
            log.seen.append(
                (phase[0], response.status_code, body.get("status"), checks.get("redis", {}).get("status"))
            )
            await asyncio.sleep(0.2)


def _redis_gauge(metrics_text: str) -> float | None:
    found = re.search(r'^agentic_dependency_up\{dependency="redis"\} (\S+)$', metrics_text, re.MULTILINE)
    return float(found.group(1)) if found else None


async def _until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout_s}s")
        await asyncio.sleep(0.2)


async def _start_delays_after_recovery(
    client: httpx.AsyncClient, headers: dict[str, str], agent_id: str, tally: Tally, count: int = 3
) -> list[float]:
    """Seconds from 201 to `started_at` of tasks created one at a time while the worker sits in its wait."""
    delays = []
    for n in range(count):
        # The worker ran the previous task and went back to its 5 s wait: only a signal starts this one soon.
        await asyncio.sleep(1)
        created = await client.post(
            "/v1/tasks", json={"agent_id": agent_id, "input": {"message": f"after {n}"}}, headers=headers
        )
        assert created.status_code == 201, created.text
        task_id = str(created.json()["id"])
        tally.accepted.append(task_id)
        t0 = time.monotonic()
        while (await client.get(f"/v1/tasks/{task_id}", headers=headers)).json()["started_at"] is None:
            if time.monotonic() - t0 > 10:
                break
            await asyncio.sleep(0.05)
        delays.append(round(time.monotonic() - t0, 2))
    return delays


async def test_redis_stopped_mid_load_readyz_stays_200_and_tasks_finish_by_polling(
    tmp_path: Path, postgres_database_url: str, own_redis: services.RedisServer
) -> None:
    """The scale-out shape: an API process and a worker process, signals between them through Redis.

    The worker polls only every 5 s, so a task that starts within a second of its creation was woken by a
    signal: that is how the test sees signals resume once Redis is back.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(tmp_path, postgres_database_url, AGENTIC_REDIS_URL=own_redis.url)
    worker_env = env | {"AGENTIC_WORKER_POLL_INTERVAL_S": "5"}
    readiness = ReadinessLog()
    phase = ["redis up"]
    started = time.monotonic()
    with (
        _running("serve", "--port", str(port), "--no-workers", env=env, log=tmp_path / "serve.log") as api,
        _running("worker", "--concurrency", "50", env=worker_env, log=tmp_path / "worker.log") as worker,
    ):
        await _wait_ready(base, api)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            headers, agent_id = await _sign_in_and_make_agent(client)
            stop_watching = asyncio.Event()
            watcher = asyncio.create_task(_watch_readiness(base, phase, readiness, stop_watching))
            try:
                async with _load(base, headers, agent_id) as tally:
                    await asyncio.sleep(3)
                    own_redis.stop()
                    phase[0] = "redis down"
                    await asyncio.sleep(6)
                    # Login throttling falls back to per-process limits rather than failing.
                    wrong = await client.post(
                        "/v1/auth/login", json={"email": ADMIN_EMAIL, "password": "not the password!"}
                    )
                    gauge_down = _redis_gauge((await client.get("/metrics")).text)
                    accepted_while_down = len(tally.accepted)
                    phase[0] = "redis back"
                    own_redis.start()
                    await asyncio.sleep(2)
            finally:
                stop_watching.set()
                await watcher
            states, drain_s = await _wait_finished(postgres_database_url, tally.accepted, timeout_s=30)
            figures = (
                f"\nredis stopped mid-load: {tally.requests} requests in {time.monotonic() - started:.1f}s, "
                f"statuses {dict(tally.statuses)}, transport errors {len(tally.transport_errors)}; "
                f"/readyz (status, body, redis) while up {dict(Counter(readiness.phase('redis up')))}, "
                f"down {dict(Counter(readiness.phase('redis down')))}, "
                f"back {dict(Counter(readiness.phase('redis back')))}; "
                f"tasks accepted {len(tally.accepted)} ({accepted_while_down} by the end of the outage), "
                f"finished {sum(s in TERMINAL for s in states.values())} {dict(Counter(states.values()))}, "
                f"drained in {drain_s:.1f}s; login while down {wrong.status_code}; redis gauge while down "
                f"{gauge_down}"
            )
            print(figures)  # noqa: T201  # the figures of the run, for the record

            assert not tally.transport_errors, tally.transport_errors[:5]
            assert set(tally.statuses) <= {200, 201}, (dict(tally.statuses), tally.unexpected[:5])
            assert all(code == 200 for _, code, _, _ in readiness.seen), readiness.seen
            assert (200, "degraded", "degraded") in readiness.phase("redis down"), readiness.seen
            assert wrong.status_code == 401, wrong.text
            assert gauge_down == 0.0
            unfinished = _unfinished_report(states, tally.accepted, [api, worker])
            # Succeeded, not merely terminal: losing Redis must not cost a task its result.
            assert all(states.get(task_id) == "succeeded" for task_id in tally.accepted), unfinished

            # Redis is back: readiness and the gauge say so, and signals flow again.
            async def redis_ok() -> bool:
                body = (await client.get("/readyz")).json()
                return bool(body.get("status") == "ok" and body["checks"]["redis"]["status"] == "ok")

            await _until(redis_ok, 15, "/readyz did not report Redis ok again")
            assert _redis_gauge((await client.get("/metrics")).text) == 1.0

            async def worker_resubscribed() -> bool:
                return "signals.transport_restored" in worker.output()

            await _until(worker_resubscribed, 15, "the worker did not resubscribe to Redis")
            delays = await _start_delays_after_recovery(client, headers, agent_id, tally)
            print(f"start delays once Redis was back: {delays}s (worker poll 5 s)")  # noqa: T201
            assert all(delay < 1.5 for delay in delays), delays


# --- PostgreSQL connections terminated in rounds ---------------------------------------------------------


async def _terminate_in_rounds(
    database_url: str, stop: asyncio.Event, rounds: list[int], every_s: float
) -> None:
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            if stop.is_set():
                break
            killed = await conn.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()) AS killed"
            )
            rounds.append(int(killed))
    finally:
        await conn.close()


async def test_pg_terminate_backend_rounds_under_load_never_500_and_every_accepted_task_finishes(
    tmp_path: Path, postgres_database_url: str
) -> None:
    """No Redis: signals ride on PostgreSQL LISTEN/NOTIFY, whose connections are terminated too."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # A short lease so that a task whose worker lost track of it is reclaimed within the test's bound.
    env = _env(
        tmp_path, postgres_database_url, AGENTIC_WORKER_LEASE_S="3", AGENTIC_WORKER_REAP_INTERVAL_S="0.5"
    )
    rounds: list[int] = []
    started = time.monotonic()
    with _running("serve", "--port", str(port), env=env, log=tmp_path / "serve.log") as api:
        await _wait_ready(base, api)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            headers, agent_id = await _sign_in_and_make_agent(client)
        stop_killing = asyncio.Event()
        async with _load(base, headers, agent_id) as tally:
            killer = asyncio.create_task(
                _terminate_in_rounds(postgres_database_url, stop_killing, rounds, 0.5)
            )
            try:
                await asyncio.sleep(18)
            finally:
                stop_killing.set()
                await killer
        states, drain_s = await _wait_finished(postgres_database_url, tally.accepted, timeout_s=25)
        output = api.output()
    print(  # noqa: T201  # the figures of the run, for the record
        f"\npg_terminate_backend: {len(rounds)} rounds, {sum(rounds)} backends terminated; "
        f"{tally.requests} requests in {time.monotonic() - started:.1f}s, statuses {dict(tally.statuses)}, "
        f"503 codes {dict(tally.codes_503)}, Retry-After {dict(tally.retry_after)}, "
        f"transport errors {len(tally.transport_errors)}; by route {dict(tally.by_route)}; "
        f"tasks accepted {len(tally.accepted)}, finished {sum(s in TERMINAL for s in states.values())} "
        f"{dict(Counter(states.values()))}, drained in {drain_s:.1f}s; "
        f"log: {output.count('http.unhandled_error')} unhandled errors, "
        f"{output.count('http.database_retried')} retried, "
        f"{output.count('http.database_unavailable')} answered 503"
    )

    assert len(rounds) >= 20, rounds
    assert not tally.transport_errors, tally.transport_errors[:5]
    assert not tally.unexpected, (dict(tally.statuses), tally.unexpected[:10])
    assert set(tally.statuses) <= {200, 201, 503}, dict(tally.statuses)
    assert set(tally.codes_503) <= {"database_unavailable"}, dict(tally.codes_503)
    assert tally.accepted
    assert len(states) == len(tally.accepted)
    # Succeeded, not merely terminal: a dropped connection gives a try back, it does not fail the task.
    assert all(state == "succeeded" for state in states.values()), _unfinished_report(
        states, tally.accepted, [api]
    )
    # The faults really reached requests: some were retried on a fresh connection or answered 503.
    assert output.count("http.database_retried") + sum(tally.codes_503.values()) > 0, output[-2000:]
    assert output.count("http.unhandled_error") == 0
