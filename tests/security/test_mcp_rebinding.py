"""An MCP server's name that rebinds to an internal address after the check is refused when the connection
opens (issue 15, finding 1: MCP over HTTP checked the name, then connected by name again).

Production policy as the platform builds it (`services.connections.http_policy`), a real HTTP server on
loopback standing for the internal service, and a resolver that answers a public address on the first lookup
and 127.0.0.1 afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr

from agentic.config import Environment, McpSettings, SecuritySettings
from agentic.services.connections import http_policy
from agentic.tools import mcp
from agentic.tools.http import OutboundRefused
from tests.conftest import make_settings
from tests.support.local_server import serve
from tests.support.rebinding import PUBLIC_ADDRESS, rebinding_name

REBINDING_HOST = "mcp.rebinding.test"


@pytest.fixture
async def internal() -> AsyncIterator[tuple[list[str], int]]:
    hits: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"jsonrpc": "2.0", "id": 1, "result": {"secret": "internal"}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    async with serve(app) as port:
        yield hits, port


@pytest.fixture
async def rebinding() -> AsyncIterator[list[str]]:
    """`REBINDING_HOST` resolves to a public address on the first lookup, to 127.0.0.1 afterwards."""
    with rebinding_name(REBINDING_HOST) as answers:
        yield answers


async def test_an_mcp_name_that_rebinds_after_the_check_is_refused_at_connect_time(
    tmp_path: Path, internal: tuple[list[str], int], rebinding: list[str]
) -> None:
    hits, port = internal
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        env=Environment.PRODUCTION,
        security=SecuritySettings(secret_key=SecretStr("a-real-secret-key-of-production-length-0123456789")),
        mcp=McpSettings(allowed_ports=[port]),
    )
    url = f"http://{REBINDING_HOST}:{port}/mcp"
    with pytest.raises(OutboundRefused) as caught:
        await mcp.list_tools(mcp.HttpServer(url=url), timeout_s=5, policy=http_policy(settings, url))
    assert caught.value.code == "ssrf_refused"
    assert "127.0.0.1" in caught.value.message
    assert rebinding == [PUBLIC_ADDRESS, "127.0.0.1"]  # the check's lookup, then the connection's
    assert hits == []
