import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import add_test_route

pytestmark = pytest.mark.usefixtures("backend")


async def test_request_id_is_generated_and_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32


async def test_caller_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"x-request-id": "trace-abc.123"})
    assert response.headers["x-request-id"] == "trace-abc.123"


async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"x-request-id": "bad id\twith spaces" + "x" * 200})
    assert response.headers["x-request-id"] != "bad id\twith spaces"
    assert len(response.headers["x-request-id"]) == 32


async def test_every_log_line_of_a_request_carries_its_id(
    client: httpx.AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    await client.get("/v1/system/info", headers={"x-request-id": "req-log-check"})
    access = [line for line in log_lines() if line.get("event") == "http.request"]
    assert access
    assert access[-1]["request_id"] == "req-log-check"
    assert access[-1]["route"] == "/v1/system/info"
    assert access[-1]["status"] == 200
    assert isinstance(access[-1]["duration_ms"], float)
    assert access[-1]["level"] == "info"
    assert "timestamp" in access[-1]


async def test_stdlib_log_lines_inside_a_request_carry_its_id(
    client: httpx.AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    """Foreign (stdlib) log records pass through the same processors, so they get the request ID too."""
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]

    async def noisy() -> dict[str, str]:
        logging.getLogger("thirdparty.lib").warning("something from a library")
        return {"ok": "yes"}

    add_test_route(app, "/v1/test-noisy", noisy)
    await client.get("/v1/test-noisy", headers={"x-request-id": "req-stdlib"})
    library = [line for line in log_lines() if line.get("event") == "something from a library"]
    assert library
    assert library[0]["request_id"] == "req-stdlib"
    assert library[0]["logger"] == "thirdparty.lib"


async def test_secrets_are_redacted_from_log_lines(log_lines: Callable[[], list[dict[str, Any]]]) -> None:
    from agentic.logging import get_logger

    get_logger("test").info("login.attempt", email="a@example.com", password="hunter2-hunter2")
    line = next(line for line in log_lines() if line.get("event") == "login.attempt")
    assert line["password"] == "[redacted]"


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/v1/system/info")
    await client.get("/v1/unknown/abc123")
    text = (await client.get("/metrics")).text
    assert 'agentic_http_requests_total{method="GET",route="/v1/system/info",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "abc123" not in text  # raw paths never become labels
    assert "agentic_http_request_duration_seconds_bucket" in text
