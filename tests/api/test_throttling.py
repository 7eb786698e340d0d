"""Abuse protection: repeated failures are throttled (429 + Retry-After) and audited.

Runs with the in-process limiter (embedded default) and with the Redis-backed one (scale-out).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select

from agentic.api.app import create_app
from agentic.config import AuthSettings, RedisSettings, Settings
from agentic.db.models import AuditEvent, Role
from agentic.resources import Resources
from tests.conftest import asgi_client
from tests.support.accounts import PASSWORD, make_account, make_org

pytestmark = pytest.mark.usefixtures("backend")


@asynccontextmanager
async def throttled(
    settings: Settings, redis_url: str | None
) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    settings.auth = AuthSettings(
        login_attempts_per_account=3, login_attempts_per_ip=8, reset_requests_per_account=2
    )
    settings.redis = RedisSettings(url=redis_url)
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        yield client, app.state.resources


@pytest.fixture
async def memory_limited(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    async with throttled(settings, None) as pair:
        yield pair


@pytest.fixture
async def redis_limited(
    settings: Settings, redis_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    async with throttled(settings, redis_url) as pair:
        yield pair


async def _bad_logins_then_throttled(client: httpx.AsyncClient, resources: Resources) -> None:
    async with resources.sessions() as db:
        account = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    email = account.user.email
    for _ in range(3):
        response = await client.post("/v1/auth/login", json={"email": email, "password": "wrong password!"})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_credentials"
    throttled_response = await client.post(
        "/v1/auth/login", json={"email": email, "password": "wrong password!"}
    )
    assert throttled_response.status_code == 429
    assert throttled_response.json()["error"]["code"] == "rate_limited"
    retry_after = int(throttled_response.headers["retry-after"])
    assert 0 < retry_after <= resources.settings.auth.throttle_window_s
    # While throttled even the right password is refused: no guessing through the limit.
    right = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert right.status_code == 429

    async with resources.sessions() as db:
        actions = (
            await db.scalars(
                select(AuditEvent.action).where(AuditEvent.target_id.in_([str(account.user.id), email]))
            )
        ).all()
    assert actions.count("auth.login_failed") == 3
    assert actions.count("auth.login_throttled") == 2


async def test_login_throttled_in_process(memory_limited: tuple[httpx.AsyncClient, Resources]) -> None:
    await _bad_logins_then_throttled(*memory_limited)


async def test_login_throttled_with_redis(redis_limited: tuple[httpx.AsyncClient, Resources]) -> None:
    await _bad_logins_then_throttled(*redis_limited)


async def test_per_ip_limit_spans_accounts(memory_limited: tuple[httpx.AsyncClient, Resources]) -> None:
    client, _resources = memory_limited
    statuses = [
        (
            await client.post(
                "/v1/auth/login", json={"email": f"nobody{i}@example.com", "password": "x" * 12}
            )
        ).status_code
        for i in range(10)
    ]
    assert statuses[:8] == [401] * 8
    assert statuses[8:] == [429, 429]


async def test_password_reset_requests_are_throttled(
    memory_limited: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, _resources = memory_limited
    statuses = [
        (
            await client.post("/v1/auth/password-reset/request", json={"email": "someone@example.com"})
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [202, 202, 429]


async def test_successful_login_resets_the_account_counter(
    memory_limited: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = memory_limited
    async with resources.sessions() as db:
        account = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    for _ in range(2):
        await client.post("/v1/auth/login", json={"email": account.user.email, "password": "wrong password!"})
    assert (
        await client.post("/v1/auth/login", json={"email": account.user.email, "password": PASSWORD})
    ).status_code == 200
    for _ in range(2):
        response = await client.post(
            "/v1/auth/login", json={"email": account.user.email, "password": "wrong!!!!!!!"}
        )
        assert response.status_code == 401


def _client_from(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client whose requests come from `address` (what the throttle keys on)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_a_strangers_failures_do_not_lock_the_owner_out(settings: Settings) -> None:
    """Issue 15: failures counted per account let anyone lock an administrator out for the window."""
    settings.auth = AuthSettings(login_attempts_per_account=3, login_attempts_per_ip=50)
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), _client_from(app, "203.0.113.7") as stranger:
        resources: Resources = app.state.resources
        async with resources.sessions() as db:
            owner = await make_account(db, resources, org=await make_org(db), role=Role.ADMIN)
        email = owner.user.email
        guess = {"email": email, "password": "guessing!!!!"}
        right = {"email": email, "password": PASSWORD}
        statuses = [(await stranger.post("/v1/auth/login", json=guess)).status_code for _ in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        # Even the right password from the stranger's address waits: no guessing through the limit.
        assert (await stranger.post("/v1/auth/login", json=right)).status_code == 429
        async with _client_from(app, "198.51.100.20") as owners_laptop:
            signed_in = await owners_laptop.post("/v1/auth/login", json=right)
        assert signed_in.status_code == 200, signed_in.text


async def test_a_client_that_keeps_failing_waits_longer_each_time(settings: Settings) -> None:
    settings.auth = AuthSettings(login_attempts_per_account=2, login_attempts_per_ip=50, throttle_window_s=1)
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), _client_from(app, "203.0.113.8") as client:
        body = {"email": "target@example.com", "password": "guessing!!!!"}
        for _ in range(2):
            assert (await client.post("/v1/auth/login", json=body)).status_code == 401
        first = await client.post("/v1/auth/login", json=body)
        assert first.status_code == 429
        assert int(first.headers["retry-after"]) <= 1  # the first tier: one window
        await asyncio.sleep(1.2)
        for _ in range(2):
            assert (await client.post("/v1/auth/login", json=body)).status_code == 401
        second = await client.post("/v1/auth/login", json=body)
        assert second.status_code == 429
        assert int(second.headers["retry-after"]) >= 2  # the second tier: up to four windows
