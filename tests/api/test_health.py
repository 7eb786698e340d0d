import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from agentic.api.app import create_app
from agentic.config import RedisSettings, Settings
from agentic.db.engine import create_engine
from tests.conftest import asgi_client, make_settings

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


async def test_readyz_is_503_when_redis_is_down(settings: Settings) -> None:
    from tests.support.services import free_port

    settings.redis = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout_s=0.5)
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["checks"]["redis"]["status"] == "error"
    assert error["details"]["checks"]["database"]["status"] == "ok"


async def test_readyz_is_503_when_schema_is_not_migrated(tmp_path: object, empty_database_url: str) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
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
