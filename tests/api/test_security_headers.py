"""Security headers on every response, and `/metrics` behind a token in production (issue 15, finding 14).

Both sides of the `AGENTIC_ENV` branch: HSTS and the token requirement are production's. The browser suite
shows that the console works under the policy (`web/e2e/tests/security-headers.spec.ts`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from agentic.api.app import create_app
from agentic.api.middleware import CONSOLE_CSP, DOCS_CSP
from agentic.config import Environment, SecuritySettings, ServerSettings, Settings
from tests.conftest import asgi_client, make_settings

pytestmark = pytest.mark.usefixtures("backend")

SECRET = "a-real-secret-key-of-production-length-0123456789"
SCRAPE_TOKEN = "scrape-token-for-the-test-0123456789"


def _settings(tmp_path: Path, database_url: str, env: Environment, token: str | None = None) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        env=env,
        security=SecuritySettings(secret_key=SecretStr(SECRET)),
        server=ServerSettings(metrics_token=SecretStr(token) if token else None),
    )


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        yield client


@pytest.mark.parametrize("env", [Environment.TEST, Environment.PRODUCTION], ids=["test", "production"])
async def test_every_response_carries_the_security_headers(
    tmp_path: Path, database_url: str, env: Environment
) -> None:
    async with _client(_settings(tmp_path, database_url, env)) as client:
        responses = {
            "console": await client.get("/"),
            "api": await client.get("/v1/system/info"),
            "api error": await client.get("/v1/tasks"),  # 401
            "not found": await client.get("/v1/nothing-here"),
            "health": await client.get("/healthz"),
            "docs": await client.get("/docs"),
        }
    for name, response in responses.items():
        headers = response.headers
        expected_csp = DOCS_CSP if name == "docs" else CONSOLE_CSP
        assert headers["content-security-policy"] == expected_csp, name
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] == "no-referrer", name
        assert headers["x-frame-options"] == "DENY", name
        if env is Environment.PRODUCTION:
            assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains", name
        else:
            assert "strict-transport-security" not in headers, name
    assert responses["api error"].status_code == 401
    assert "frame-ancestors 'none'" in CONSOLE_CSP
    assert "script-src 'self';" in CONSOLE_CSP  # no inline or foreign script on the console


async def test_metrics_need_a_token_in_production(tmp_path: Path, database_url: str) -> None:
    async with _client(_settings(tmp_path / "bare", database_url, Environment.PRODUCTION)) as client:
        refused = await client.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "metrics_token_required"
    assert "agentic_" not in refused.text

    settings = _settings(tmp_path / "token", database_url, Environment.PRODUCTION, token=SCRAPE_TOKEN)
    async with _client(settings) as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"authorization": "Bearer not-the-token"})
        scraped = await client.get("/metrics", headers={"authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert "agentic_" not in anonymous.text + wrong.text
    assert scraped.status_code == 200
    assert "agentic_http_requests_total" in scraped.text


async def test_outside_production_metrics_are_open_unless_a_token_is_set(
    tmp_path: Path, database_url: str
) -> None:
    async with _client(_settings(tmp_path / "bare", database_url, Environment.TEST)) as client:
        assert (await client.get("/metrics")).status_code == 200
    settings = _settings(tmp_path / "token", database_url, Environment.TEST, token=SCRAPE_TOKEN)
    async with _client(settings) as client:
        assert (await client.get("/metrics")).status_code == 401
        ok = await client.get("/metrics", headers={"authorization": f"Bearer {SCRAPE_TOKEN}"})
        assert ok.status_code == 200
