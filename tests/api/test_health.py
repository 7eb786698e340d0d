import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis
from sqlalchemy import text

from agentic.api.app import create_app
from agentic.config import AuthSettings, RedisSettings, Settings
from agentic.db.engine import create_engine
from agentic.resources import Resources
from agentic.security.throttle import RateLimited, Throttle
from tests.conftest import asgi_client, make_settings
from tests.support.services import free_port

pytestmark = pytest.mark.usefixtures("backend")


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert "redis" not in body["checks"]  # not configured in the embedded default


async def test_readyz_checks_redis_when_configured(settings: Settings, redis_url: str) -> None:
    settings.redis = RedisSettings(url=redis_url)
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["redis"]["status"] == "ok"


async def test_readyz_stays_200_and_reports_redis_degraded_when_redis_is_down(settings: Settings) -> None:
    """Redis carries signals only: without it the instance still serves, so it stays ready (degraded)."""
    settings.redis = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout_s=0.5)
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        response = await client.get("/readyz")
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "degraded"
    assert "Connect" in body["checks"]["redis"]["error"]
    assert _gauge(metrics, "redis") == 0.0
    assert _gauge(metrics, "database") == 1.0


async def test_dependency_gauges_follow_redis(settings: Settings, redis_url: str) -> None:
    settings.redis = RedisSettings(url=redis_url)
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        assert (await client.get("/readyz")).json()["status"] == "ok"
        metrics = (await client.get("/metrics")).text
    assert _gauge(metrics, "redis") == 1.0
    assert _gauge(metrics, "database") == 1.0


async def test_readyz_is_503_when_the_database_is_down(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(
        tmp_path,
        f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gone",
        redis=RedisSettings(url=redis_url),
    )
    app = create_app(settings, run_workers=False)
    # The lifespan's first-run check needs the database: run the app without it, as a replica would whose
    # database went away after start-up.
    app.state.resources = Resources.open(settings)
    try:
        async with asgi_client(app) as client:
            response = await client.get("/readyz")
            metrics = (await client.get("/metrics")).text
            tasks = await client.get("/v1/system/info")
    finally:
        await app.state.resources.close()
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["checks"]["database"]["status"] == "error"
    assert error["details"]["checks"]["redis"]["status"] == "ok"
    assert _gauge(metrics, "database") == 0.0
    assert tasks.status_code in (200, 503), tasks.text  # never a 500


async def test_readyz_is_503_when_schema_is_not_migrated(tmp_path: Path, empty_database_url: str) -> None:
    settings = make_settings(tmp_path, empty_database_url)
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        response = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200  # liveness does not depend on the database
    assert response.status_code == 503
    check = response.json()["error"]["details"]["checks"]["database"]
    assert "agentic db upgrade" in check["error"]


async def test_readyz_is_503_when_schema_is_behind(settings: Settings, client: httpx.AsyncClient) -> None:
    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    await engine.dispose()
    response = await client.get("/readyz")
    assert response.status_code == 503


def _gauge(metrics: str, dependency: str) -> float | None:
    found = re.search(rf'^agentic_dependency_up{{dependency="{dependency}"}} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else None


# --- rate limits with Redis down: per-process limits, not errors -----------------------------------------


@contextlib.asynccontextmanager
async def _silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers: a frozen Redis."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_login_throttling_falls_back_to_per_process_limits_when_redis_is_down(
    settings: Settings,
) -> None:
    settings.redis = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout_s=0.5)
    settings.auth = AuthSettings(login_attempts_per_account=3)
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        statuses = [
            (
                await client.post(
                    "/v1/auth/login", json={"email": "who@example.com", "password": "wrong password!"}
                )
            ).status_code
            for _ in range(4)
        ]
    assert statuses == [401, 401, 401, 429]  # still limited, never a 500


async def test_a_frozen_redis_costs_one_timeout_then_the_fallback_answers_at_once() -> None:
    async with _silent_server() as port:
        url = f"redis://127.0.0.1:{port}/0"
        redis = Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.3)
        throttle = Throttle(url, redis)
        limit = throttle.limit(2, 60)
        try:
            durations = []
            for _ in range(3):
                started = time.monotonic()
                with contextlib.suppress(RateLimited):
                    await throttle.acquire(limit, "frozen", message="slow down")
                durations.append(time.monotonic() - started)
            assert durations[0] < 2.0, durations
            assert max(durations[1:]) < 0.1, durations  # no timeout paid per request while Redis is away
            with pytest.raises(RateLimited):  # the per-process counter kept counting
                await throttle.acquire(limit, "frozen", message="slow down")
            assert throttle.degraded
        finally:
            await redis.aclose()
