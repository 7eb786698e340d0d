"""The API in production and outside it: both sides of each `AGENTIC_ENV` branch a request reaches (issue 13).

Each test runs the same requests against an app in `test` and one in `production` (a real secret key, nothing
else changed), on both database backends: session cookies, provider base URLs, MCP servers, webhooks and SQL
connections on this machine — when registered, and again when used.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from agentic.api.app import create_app
from agentic.api.security import CSRF_COOKIE, REFRESH_COOKIE, SESSION_COOKIE
from agentic.config import (
    Environment,
    LLMSettings,
    SecuritySettings,
    Settings,
    SqlToolSettings,
    WebhookSettings,
    WorkerSettings,
)
from agentic.db.models import Role
from agentic.resources import Resources
from tests.api.test_tasks import _wait
from tests.conftest import asgi_client, make_settings
from tests.support.accounts import PASSWORD, Account, make_account, make_org
from tests.support.local_server import serve
from tests.support.services import free_port

pytestmark = pytest.mark.usefixtures("backend")

SECRET = "a-real-secret-key-of-production-length-0123456789"
ENVS = [pytest.param(Environment.TEST, id="test"), pytest.param(Environment.PRODUCTION, id="production")]
LIVE_WORKERS = WorkerSettings(in_process=True, poll_interval_s=0.02, concurrency=8, reap_interval_s=0.1)


def _settings(tmp_path: Path, database_url: str, env: Environment, **groups: object) -> Settings:
    return make_settings(
        tmp_path, database_url, env=env, security=SecuritySettings(secret_key=SecretStr(SECRET)), **groups
    )


@asynccontextmanager
async def _running(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    app = create_app(settings, run_workers=settings.worker.in_process)
    async with LifespanManager(app), asgi_client(app) as client:
        yield client, app.state.resources


async def _account(resources: Resources, role: Role = Role.ADMIN) -> Account:
    async with resources.sessions() as db:
        return await make_account(db, resources, org=await make_org(db), role=role)


async def _agent(client: httpx.AsyncClient, account: Account, **extra: Any) -> str:
    body = {"name": "Env", "model": {"provider": "mock", "name": "echo"}, "policies": {"max_attempts": 1}}
    created = await client.post("/v1/agents", json=body | extra, headers=account.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _cookies(response: httpx.Response) -> dict[str, set[str]]:
    """Each cookie set by `response`, with the names of its attributes (lower case)."""
    found: dict[str, set[str]] = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        found[name] = {part.strip().split("=", 1)[0].lower() for part in rest.split(";")[1:]}
    return found


# --- api/routes/auth.py: Secure cookies in production only ------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
async def test_session_cookies_are_secure_in_production_only(
    tmp_path: Path, database_url: str, env: Environment
) -> None:
    secure = env is Environment.PRODUCTION
    async with _running(_settings(tmp_path, database_url, env)) as (client, resources):
        account = await _account(resources, Role.USER)
        login = await client.post("/v1/auth/login", json={"email": account.user.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        refreshed = await client.post(
            "/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
    for response in (login, refreshed):
        cookies = _cookies(response)
        assert set(cookies) == {SESSION_COOKIE, REFRESH_COOKIE, CSRF_COOKIE}, cookies
        for name, attributes in cookies.items():
            assert ("secure" in attributes) is secure, (name, attributes)
        assert "httponly" in cookies[SESSION_COOKIE]
        assert "httponly" in cookies[REFRESH_COOKIE]
        assert "httponly" not in cookies[CSRF_COOKIE]  # the page's script echoes it


# --- services/llm.py: provider base URLs inside the network -----------------------------------------------


@pytest.mark.parametrize(
    ("env", "opt_in", "accepted"),
    [
        pytest.param(Environment.TEST, False, True, id="test"),
        pytest.param(Environment.PRODUCTION, False, False, id="production"),
        pytest.param(Environment.PRODUCTION, True, True, id="production-opted-in"),
    ],
)
async def test_a_local_llm_server_outside_production_or_when_the_operator_opts_in(
    tmp_path: Path, database_url: str, env: Environment, opt_in: bool, accepted: bool
) -> None:
    settings = _settings(tmp_path, database_url, env, llm=LLMSettings(allow_internal_base_urls=opt_in))
    async with _running(settings) as (client, resources):
        admin = await _account(resources)
        created = await client.post(
            "/v1/provider-credentials",
            json={"provider": "openai", "api_key": "sk-" + "k" * 40, "base_url": "http://127.0.0.1:11434/v1"},
            headers=admin.headers,
        )
    if accepted:
        assert created.status_code == 201, created.text
        assert created.json()["base_url"] == "http://127.0.0.1:11434/v1"
    else:
        assert created.status_code == 422, created.text
        assert created.json()["error"]["details"][0]["loc"] == ["body", "base_url"]


# --- security/outbound.py via MCP servers and webhooks: this machine outside production only --------------


@pytest.mark.parametrize("env", ENVS)
async def test_an_mcp_server_on_this_machine_outside_production_only(
    tmp_path: Path, database_url: str, env: Environment
) -> None:
    async with _running(_settings(tmp_path, database_url, env)) as (client, resources):
        admin = await _account(resources)
        created = await client.post(
            "/v1/mcp-servers",
            json={"name": "local", "transport": "http", "url": "http://127.0.0.1:9/mcp"},
            headers=admin.headers,
        )
    if env is Environment.PRODUCTION:
        assert created.status_code == 422, created.text
        assert created.json()["error"]["code"] == "invalid_mcp_url"
    else:
        assert created.status_code == 201, created.text  # registered; nothing listens there (last_error)
        assert created.json()["last_error"]


@pytest.mark.parametrize("env", ENVS)
async def test_webhook_urls_need_https_and_a_public_host_in_production(
    tmp_path: Path, database_url: str, env: Environment
) -> None:
    async with _running(_settings(tmp_path, database_url, env)) as (client, resources):
        owner = await _account(resources, Role.USER)
        agent_id = await _agent(client, owner)
        answers = {}
        for url in ("http://example.com/hook", "http://127.0.0.1:9000/hook", "https://example.com/hook"):
            response = await client.post(
                f"/v1/agents/{agent_id}/webhooks",
                json={"url": url, "events": ["task.succeeded"]},
                headers=owner.headers,
            )
            answers[url] = (response.status_code, response.json().get("error", {}).get("code"))
    if env is Environment.PRODUCTION:
        assert answers == {
            "http://example.com/hook": (422, "invalid_webhook_url"),
            "http://127.0.0.1:9000/hook": (422, "invalid_webhook_url"),
            "https://example.com/hook": (201, None),
        }
    else:
        assert {status for status, _ in answers.values()} == {201}, answers


async def test_a_loopback_receiver_is_called_outside_production_and_refused_in_production(
    tmp_path: Path, database_url: str
) -> None:
    """Checked again at every delivery: a receiver registered while the server ran in dev is not called once
    the same database is served in production (even on an allowed port)."""
    received: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    async with serve(receiver) as port:
        settings = _settings(
            tmp_path,
            database_url,
            Environment.TEST,
            worker=LIVE_WORKERS,
            webhooks=WebhookSettings(retry_schedule_s=[], poll_interval_s=0.05, allowed_ports=[443, port]),
        )
        async with _running(settings) as (client, resources):
            owner = await _account(resources, Role.USER)
            agent_id = await _agent(client, owner)
            hook_out = await client.post(
                f"/v1/agents/{agent_id}/webhooks",
                json={"url": f"http://127.0.0.1:{port}/hook", "events": ["task.succeeded"]},
                headers=owner.headers,
            )
            assert hook_out.status_code == 201, hook_out.text
            deliveries = f"/v1/agents/{agent_id}/webhooks/{hook_out.json()['id']}/deliveries"

            async def run_and_settle() -> dict[str, Any]:
                task = await client.post("/v1/tasks", json={"agent_id": agent_id}, headers=owner.headers)
                assert (await _wait(client, task.json()["id"], owner.headers))["state"] == "succeeded"
                for _ in range(200):
                    items = (await client.get(deliveries, headers=owner.headers)).json()["items"]
                    mine = [d for d in items if d["task_id"] == task.json()["id"]]
                    if mine and mine[0]["status"] != "pending":
                        return dict(mine[0])
                    await asyncio.sleep(0.05)
                pytest.fail("the delivery never settled")

            delivered = await run_and_settle()
            assert delivered["status"] == "succeeded", delivered
            assert len(received) == 1

            resources.settings.env = Environment.PRODUCTION
            refused = await run_and_settle()
    assert refused["status"] == "failed", refused
    assert refused["last_error"].startswith("ssrf_refused"), refused
    assert len(received) == 1  # the receiver was never called in production


# --- services/connections.py: PostgreSQL connections to this machine ------------------------------------


@pytest.mark.parametrize(
    ("env", "operator_networks", "code"),
    [
        pytest.param(Environment.TEST, [], None, id="test"),
        pytest.param(Environment.PRODUCTION, [], "sql_host_refused", id="production"),
        pytest.param(Environment.PRODUCTION, ["127.0.0.1/32"], None, id="production-operator-allows"),
    ],
)
async def test_a_database_on_this_machine_outside_production_or_when_the_operator_allows_it(
    tmp_path: Path, database_url: str, env: Environment, operator_networks: list[str], code: str | None
) -> None:
    settings = _settings(
        tmp_path, database_url, env, sql=SqlToolSettings(allow_private_networks=operator_networks)
    )
    async with _running(settings) as (client, resources):
        admin = await _account(resources)
        created = await client.post(
            "/v1/sql-connections",
            json={"name": "crm", "dsn": "postgresql://reader:x@127.0.0.1:5432/crm"},
            headers=admin.headers,
        )
    if code is None:
        assert created.status_code == 201, created.text
    else:
        assert created.status_code == 422, created.text
        assert created.json()["error"]["code"] == code


async def test_sql_query_checks_the_host_again_when_it_runs(tmp_path: Path, database_url: str) -> None:
    """A connection registered while allowed is refused at its next use once it is not: in production without
    the operator's network, the tool answers `sql_host_refused` before connecting; outside production (and
    with the network allowed) it gets past the check and fails only because nothing listens there."""
    closed = free_port()
    settings = _settings(
        tmp_path,
        database_url,
        Environment.TEST,
        worker=LIVE_WORKERS,
        sql=SqlToolSettings(allow_private_networks=[]),
    )
    async with _running(settings) as (client, resources):
        admin = await _account(resources)
        created = await client.post(
            "/v1/sql-connections",
            json={"name": "crm", "dsn": f"postgresql://reader:x@127.0.0.1:{closed}/crm"},
            headers=admin.headers,
        )
        assert created.status_code == 201, created.text
        script = [
            {"tool_calls": [{"name": "sql_query", "arguments": {"sql": "SELECT 1"}}]},
            {"text": "done"},
        ]
        agent_id = await _agent(
            client,
            admin,
            model={"provider": "mock", "name": "scripted", "options": {"script": script}},
            tools=[{"name": "sql_query", "config": {"connections": ["crm"]}}],
        )

        async def tool_error() -> str:
            task = await client.post("/v1/tasks", json={"agent_id": agent_id}, headers=admin.headers)
            done = await _wait(client, task.json()["id"], admin.headers, timeout_s=60)
            assert done["state"] == "succeeded", done
            steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=admin.headers)).json()
            (tool,) = [s for s in steps if s["kind"] == "tool"]
            return str(tool["output"]["error"]["code"])

        outside_production = await tool_error()
        resources.settings.env = Environment.PRODUCTION
        resources.settings.sql.allow_private_networks = ["127.0.0.1/32"]
        production_allowed = await tool_error()
        resources.settings.sql.allow_private_networks = []
        production = await tool_error()
    assert (outside_production, production_allowed, production) == (
        "sql_unavailable",
        "sql_unavailable",
        "sql_host_refused",
    )
