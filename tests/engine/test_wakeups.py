"""New work starts at once, not at the next poll: in one process, and across processes through Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from agentic.api.app import create_app
from agentic.config import Settings, WorkerSettings
from agentic.db.models import Role
from agentic.engine.wakeups import Wakeups
from tests.api.test_tasks import make_agent
from tests.conftest import asgi_client
from tests.support.accounts import make_account, make_org


@pytest.fixture
async def slow_polling(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # A 5-second poll: only a wake-up can start the task quickly.
    settings.worker = WorkerSettings(in_process=True, poll_interval_s=5, concurrency=4)
    app = create_app(settings, run_workers=True)
    async with LifespanManager(app), asgi_client(app) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


@pytest.mark.usefixtures("backend")
async def test_a_new_task_starts_without_waiting_for_the_poll(slow_polling: httpx.AsyncClient) -> None:
    client = slow_polling
    resources = client.app.state.resources  # type: ignore[attr-defined]
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = await make_agent(db, user)
    await asyncio.sleep(0.3)  # the worker is idle, in the middle of its 5 s poll
    started = time.monotonic()
    task = (await client.post("/v1/tasks", json={"agent_id": str(agent.id)}, headers=user.headers)).json()
    while (await client.get(f"/v1/tasks/{task['id']}", headers=user.headers)).json()["started_at"] is None:
        # Far below the 5 s poll (latency itself is measured by the benchmark, not asserted on a busy CI box).
        assert time.monotonic() - started < 2.0, "the task waited for the poll"
        await asyncio.sleep(0.01)


async def test_wakeups_cross_processes_through_redis(redis_url: str) -> None:
    publisher_client, listener_client = Redis.from_url(redis_url), Redis.from_url(redis_url)
    publisher, listener = Wakeups(publisher_client), Wakeups(listener_client)
    listener.start()
    try:
        await asyncio.sleep(0.2)  # subscribed
        waiting = asyncio.create_task(listener.wait(timeout_s=5))
        started = time.monotonic()
        await publisher.notify()
        await waiting
        assert time.monotonic() - started < 0.5
    finally:
        await listener.stop()
        await publisher_client.aclose()
        await listener_client.aclose()
