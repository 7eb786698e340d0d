"""The organisation's tools end to end over HTTP: MCP servers (a real `mcp-server-time` over stdio and the
SDK's server over streamable HTTP) registered by an admin and called by an agent; `sql_query` over a
registered database; `web_search` through a configured provider."""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from agentic.config import McpSettings, SearchSettings, Settings, SqlToolSettings, WorkerSettings
from agentic.db.models import McpServer, Role, SqlConnection
from agentic.resources import Resources
from tests.api.test_tasks import _wait
from tests.conftest import asgi_client
from tests.support.accounts import Account, make_account, make_org
from tests.support.local_server import serve
from tests.support.mcp_servers import HttpMcpServer, run_http_server

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture(scope="module")
def mcp_http() -> Iterator[HttpMcpServer]:
    with run_http_server() as server:
        yield server


@pytest.fixture
def sqlite_dir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="agentic-sql-"))
    with sqlite3.connect(directory / "shop.db") as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total REAL)")
        db.executemany(
            "INSERT INTO orders (customer, total) VALUES (?, ?)", [("ada", 12.5), ("bob", 30.0), ("ada", 7.5)]
        )
    return directory


@pytest.fixture
async def search_api() -> AsyncIterator[str]:
    """A local server answering like a SearXNG instance."""

    async def search(request: web.Request) -> web.Response:
        query = request.query["q"]
        return web.json_response(
            {
                "results": [
                    {
                        "title": f"<b>{query}</b> docs",
                        "url": "https://example.org/a",
                        "content": "First hit.",
                    },
                    {"title": "Second", "url": "https://example.org/b", "content": "Second hit."},
                ]
            }
        )

    app = web.Application()
    app.router.add_get("/search", search)
    async with serve(app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
async def live(
    settings: Settings, sqlite_dir: Path, search_api: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    settings.worker = WorkerSettings(
        in_process=True, poll_interval_s=0.02, concurrency=8, reap_interval_s=0.2
    )
    # The operator allows this interpreter as a stdio command (it runs `-m mcp_server_time`).
    settings.mcp = McpSettings(stdio_commands=[sys.executable], discovery_timeout_s=60)
    settings.sql = SqlToolSettings(sqlite_dirs=[sqlite_dir])
    settings.search = SearchSettings(provider="searxng", base_url=search_api)
    from agentic.api.app import create_app

    app = create_app(settings, run_workers=True)
    async with LifespanManager(app), asgi_client(app) as client:
        yield client, app.state.resources


async def _run(
    client: httpx.AsyncClient, account: Account, script: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    body = {
        "name": "Tool user",
        "model": {"provider": "mock", "name": "scripted", "options": {"script": script}},
        "tools": tools,
        "policies": {"max_attempts": 1},
    }
    agent = await client.post("/v1/agents", json=body, headers=account.headers)
    assert agent.status_code == 201, agent.text
    task = await client.post("/v1/tasks", json={"agent_id": agent.json()["id"]}, headers=account.headers)
    done = await _wait(client, task.json()["id"], account.headers, timeout_s=90)
    assert done["state"] == "succeeded", done
    steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=account.headers)).json()
    return done, [s for s in steps if s["kind"] == "tool"]


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


async def test_an_agent_calls_tools_of_registered_mcp_servers(
    live: tuple[httpx.AsyncClient, Resources], mcp_http: HttpMcpServer
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        org = await make_org(db)
        admin = await make_account(db, resources, org=org, role=Role.ADMIN)
        user = await make_account(db, resources, org=org, role=Role.USER)
    time_server = await client.post(
        "/v1/mcp-servers",
        json={"name": "time", "transport": "stdio", "command": [sys.executable, "-m", "mcp_server_time"]},
        headers=admin.headers,
    )
    assert time_server.status_code == 201, time_server.text
    assert time_server.json()["last_error"] is None
    assert "get_current_time" in [t["name"] for t in time_server.json()["tools"]]
    token = f"Bearer {mcp_http.token}"
    calc = await client.post(
        "/v1/mcp-servers",
        json={"name": "calc", "transport": "http", "url": mcp_http.url, "headers": {"Authorization": token}},
        headers=admin.headers,
    )
    assert calc.status_code == 201, calc.text
    assert calc.json()["header_names"] == ["Authorization"]
    assert mcp_http.token not in calc.text  # the secret value is never shown
    async with resources.sessions() as db:
        stored = (await db.scalars(select(McpServer.secrets_encrypted).where(McpServer.name == "calc"))).one()
    assert stored is not None
    assert mcp_http.token not in stored

    # A plain member sees the servers and their tools (to build agents), but cannot register one.
    listed = (await client.get("/v1/mcp-servers", headers=user.headers)).json()
    assert [s["name"] for s in listed] == ["calc", "time"]
    refused = await client.post(
        "/v1/mcp-servers", json={"name": "x", "transport": "http", "url": mcp_http.url}, headers=user.headers
    )
    assert refused.status_code == 403

    script = [
        _call("mcp__time__get_current_time", timezone="UTC"),
        _call("mcp__calc__add", a=2, b=40),
        _call("mcp__calc__authorization"),
        {"text": "done"},
    ]
    tools: list[dict[str, Any]] = [
        {"name": "mcp:time"},
        {"name": "mcp:calc", "config": {"tools": ["add", "authorization"]}},
    ]
    done, calls = await _run(client, user, script, tools)
    assert done["output"]["text"] == "done"
    now, added, auth = (c["output"] for c in calls)
    assert now["is_error"] is False
    assert now["structured"]["timezone"] == "UTC"
    assert added["structured"] == {"result": 42}
    assert auth["parts"][0]["text"] == token  # the registered header reached the server


async def test_mcp_registration_is_checked(live: tuple[httpx.AsyncClient, Resources]) -> None:
    client, resources = live
    async with resources.sessions() as db:
        admin = await make_account(db, resources, org=await make_org(db), role=Role.ADMIN)
    cases = [
        ({"name": "sh", "transport": "stdio", "command": ["/bin/sh", "-c", "id"]}, "stdio_not_allowed"),
        ({"name": "meta", "transport": "http", "url": "http://169.254.169.254/mcp"}, "invalid_mcp_url"),
        ({"name": "ftp", "transport": "http", "url": "ftp://example.com/mcp"}, "invalid_mcp_url"),
        ({"name": "Bad Name", "transport": "http", "url": "https://example.com/mcp"}, "validation_error"),
    ]
    for body, code in cases:
        response = await client.post("/v1/mcp-servers", json=body, headers=admin.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == code, response.text
    # A server that cannot be reached is registered with the error, for the admin to fix and refresh.
    down = await client.post(
        "/v1/mcp-servers",
        json={"name": "down", "transport": "http", "url": "http://127.0.0.1:9/mcp"},
        headers=admin.headers,
    )
    assert down.status_code == 201
    assert down.json()["tools"] == []
    assert down.json()["last_error"]


async def test_sql_query_reads_a_registered_database(
    live: tuple[httpx.AsyncClient, Resources], sqlite_dir: Path
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        org = await make_org(db)
        admin = await make_account(db, resources, org=org, role=Role.ADMIN)
        user = await make_account(db, resources, org=org, role=Role.USER)
    created = await client.post(
        "/v1/sql-connections",
        json={"name": "shop", "dsn": f"sqlite:///{sqlite_dir / 'shop.db'}"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["kind"] == "sqlite"
    pg = await client.post(
        "/v1/sql-connections",
        json={"name": "crm", "dsn": "postgresql://reader:hunter2@127.0.0.1:5432/crm"},
        headers=admin.headers,
    )
    assert pg.status_code == 201, pg.text
    assert pg.json()["dsn"] == "postgresql://reader:***@127.0.0.1:5432/crm"
    async with resources.sessions() as db:
        encrypted = (
            await db.scalars(select(SqlConnection.dsn_encrypted).where(SqlConnection.name == "crm"))
        ).one()
    assert "hunter2" not in encrypted
    for dsn, code in [
        ("postgresql://reader:x@169.254.169.254/db", "sql_host_refused"),
        ("mysql://reader:x@example.com/db", "invalid_dsn"),
        ("sqlite:////etc/passwd", "invalid_dsn"),  # outside the allowed directories
    ]:
        refused = await client.post(
            "/v1/sql-connections", json={"name": "bad", "dsn": dsn}, headers=admin.headers
        )
        assert refused.status_code == 422, (dsn, refused.text)
        assert refused.json()["error"]["code"] == code

    script = [
        _call(
            "sql_query", sql="SELECT customer, SUM(total) AS spent FROM orders GROUP BY customer ORDER BY 1"
        ),
        _call("sql_query", sql="DELETE FROM orders"),
        _call("sql_query", sql="SELECT total FROM orders WHERE customer = ?", params=["bob"]),
        {"text": "ada spent 20, bob 30"},
    ]
    _, calls = await _run(client, user, script, [{"name": "sql_query", "config": {"connections": ["shop"]}}])
    read, delete, param = (c["output"] for c in calls)
    assert read["columns"] == ["customer", "spent"]
    assert read["rows"] == [["ada", 20.0], ["bob", 30.0]]
    assert delete["error"]["code"] == "sql_read_only"
    assert param["rows"] == [[30.0]]
    with sqlite3.connect(sqlite_dir / "shop.db") as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone() == (3,)  # the DELETE changed nothing


async def test_web_search_uses_the_configured_provider(live: tuple[httpx.AsyncClient, Resources]) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    script = [_call("web_search", query="agentic", max_results=1), {"text": "found"}]
    _, (call,) = await _run(client, user, script, [{"name": "web_search"}])
    assert call["output"]["results"] == [
        {"title": "agentic docs", "url": "https://example.org/a", "snippet": "First hit."}
    ]


async def test_operator_revocations_apply_to_tools_already_registered(
    live: tuple[httpx.AsyncClient, Resources], sqlite_dir: Path
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        org = await make_org(db)
        admin = await make_account(db, resources, org=org, role=Role.ADMIN)
    command = [sys.executable, "-m", "mcp_server_time"]
    created = await client.post(
        "/v1/mcp-servers",
        json={"name": "time", "transport": "stdio", "command": command},
        headers=admin.headers,
    )
    assert created.status_code == 201
    shop = f"sqlite:///{sqlite_dir / 'shop.db'}"
    assert (
        await client.post("/v1/sql-connections", json={"name": "shop", "dsn": shop}, headers=admin.headers)
    ).status_code == 201
    # The operator then disallows the stdio command and SQLite connections (same process: same settings).
    resources.settings.mcp.stdio_commands = []
    resources.settings.sql.sqlite_dirs = []
    script = [
        _call("mcp__time__get_current_time", timezone="UTC"),
        _call("sql_query", sql="SELECT 1"),
        {"text": "done"},
    ]
    tools: list[dict[str, Any]] = [
        {"name": "mcp:time"},
        {"name": "sql_query", "config": {"connections": ["shop"]}},
    ]
    _, calls = await _run(client, admin, script, tools)
    mcp_call, sql_call = (c["output"] for c in calls)
    assert mcp_call["error"]["code"] == "tool_not_allowed"  # not offered, never started
    assert sql_call["error"]["code"] == "sql_unavailable"
    refreshed = await client.post(f"/v1/mcp-servers/{created.json()['id']}/refresh", headers=admin.headers)
    assert "no longer allows" in refreshed.json()["last_error"]
