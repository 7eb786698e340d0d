"""The product path under load, as shipped: many clients each create a task and follow its event stream.

Issue 14: every stream used to hold a pooled database connection for its whole life. With the pool's 15
connections taken by 15 open streams, task creation and the runners waited for a connection and failed
(`500`, `engine.runner_crashed`), and streams ended early. A stream also sometimes closed without its
terminal event. Here the pool is far smaller than the number of open streams, on the embedded default and on
PostgreSQL + Redis with a separate worker: every request must succeed and every stream must end with its
terminal event, every event once and in order.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import agentic_env, start_cli, wait_ready
from tests.support.services import free_port

pytestmark = pytest.mark.slow

ADMIN_EMAIL = "owner@example.com"
ADMIN_PASSWORD = "a long and careful passphrase"
CLIENTS = 120
RUNS_PER_CLIENT = 2
POOL = {"AGENTIC_DATABASE_POOL_SIZE": "3", "AGENTIC_DATABASE_MAX_OVERFLOW": "0"}
TERMINAL = {"task.succeeded", "task.failed", "task.cancelled", "task.dead"}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(params=["embedded", "postgresql+redis"])
def platform(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_database_url: str, redis_url: str
) -> Iterator[str]:
    """`agentic serve` as `make run` starts it (uvloop, dev), with a pool of 3 connections.

    `embedded`: SQLite and in-process workers. `postgresql+redis`: the API without workers, and one
    `agentic worker` process beside it.
    """
    extra = {**POOL, "AGENTIC_ADMIN_EMAIL": ADMIN_EMAIL, "AGENTIC_ADMIN_PASSWORD": ADMIN_PASSWORD}
    database_url = None
    if request.param == "postgresql+redis":
        database_url = postgres_database_url
        extra |= {"AGENTIC_REDIS_URL": redis_url, "AGENTIC_WORKER_IN_PROCESS": "false"}
    env = agentic_env(tmp_path / "data", database_url, **extra)
    del env["AGENTIC_ENV"]  # the default environment, as a user has it
    port = free_port()
    log = tmp_path / "serve.log"
    processes = [start_cli("serve", "--port", str(port), env=env, log_path=log)]
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, processes[0], log)
        if request.param == "postgresql+redis":
            processes.append(start_cli("worker", env=env, log_path=tmp_path / "worker.log"))
        yield base
    finally:
        for proc in reversed(processes):
            _stop(proc)


async def _run(client: httpx.AsyncClient, agent_id: str) -> tuple[int, list[tuple[int, str]]]:
    """Create a task and follow its stream to the end: the creation status and the events seen."""
    created = await client.post("/v1/tasks", json={"agent_id": agent_id, "input": {"message": "hi"}})
    if created.status_code != 201:
        return created.status_code, []
    events: list[tuple[int, str]] = []
    async with client.stream(
        "GET", f"/v1/tasks/{created.json()['id']}/events", headers={"accept": "text/event-stream"}
    ) as stream:
        if stream.status_code != 200:
            return stream.status_code, []
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                events.append((event["seq"], event["type"]))
    return 201, events


async def _load(base: str) -> tuple[list[int], list[list[tuple[int, str]]], float]:
    # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s, httpx's default
    # expiry too): reusing one the server is closing at that moment fails with "Server disconnected".
    limits = httpx.Limits(
        max_connections=CLIENTS + 10, max_keepalive_connections=CLIENTS + 10, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits, trust_env=False) as client:
        login = await client.post("/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        client.headers["authorization"] = f"Bearer {login.json()['access_token']}"
        agent = await client.post(
            "/v1/agents",
            json={
                "name": "Under load",
                # Streamed word by word over about half a second: every stream is open while the others run.
                "model": {"provider": "mock", "name": "echo", "options": {"tokens_per_second": 20}},
            },
        )
        assert agent.status_code == 201, agent.text

        async def client_loop() -> list[tuple[int, list[tuple[int, str]]]]:
            return [await _run(client, agent.json()["id"]) for _ in range(RUNS_PER_CLIENT)]

        started = time.monotonic()
        results = [r for loop in await asyncio.gather(*(client_loop() for _ in range(CLIENTS))) for r in loop]
        elapsed = time.monotonic() - started
    return [status for status, _ in results], [events for _, events in results], elapsed


def test_many_streams_on_a_small_pool_lose_nothing(platform: str) -> None:
    statuses, streams, elapsed = asyncio.run(asyncio.wait_for(_load(platform), 180))
    assert statuses == [201] * len(statuses), sorted(set(statuses))
    truncated = [events[-3:] for events in streams if not events or events[-1][1] not in TERMINAL]
    assert not truncated, f"{len(truncated)} of {len(streams)} streams ended without their terminal event"
    for events in streams:
        assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
        assert events[-1][1] == "task.succeeded", events[-3:]
    assert elapsed < 120, f"{len(streams)} runs by {CLIENTS} clients took {elapsed:.0f} s"
