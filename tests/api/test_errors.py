"""Bad input always gets a clear 4xx with the error envelope, never a 500 or a trace."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agentic.config import Settings
from tests.conftest import add_test_route, asgi_client

pytestmark = pytest.mark.usefixtures("backend")


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    error: dict[str, Any] = body["error"]
    return error


SETUP = "/v1/setup"


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        SETUP, content=b'{"token": "abc",', headers={"content-type": "application/json"}
    )
    assert_envelope(response, 400, "malformed_json")


async def test_wrong_types_name_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        SETUP, json={"token": 5, "email": "not-an-email", "password": "x" * 20, "organization_name": ["a"]}
    )
    error = assert_envelope(response, 422, "validation_error")
    locations = {tuple(item["loc"]) for item in error["details"]}
    assert ("body", "token") in locations
    assert ("body", "email") in locations
    assert ("body", "organization_name") in locations


async def test_validation_errors_do_not_echo_input(client: httpx.AsyncClient) -> None:
    secret = "my-very-secret-password-value"
    response = await client.post(
        SETUP, json={"token": "t", "email": "bad", "password": secret, "extra": secret}
    )
    assert_envelope(response, 422, "validation_error")
    assert secret not in response.text


async def test_unknown_fields_are_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(
        SETUP,
        json={
            "token": "t",
            "email": "a@example.com",
            "password": "x" * 20,
            "organization_name": "Acme",
            "is_admin": True,
        },
    )
    error = assert_envelope(response, 422, "validation_error")
    assert ["body", "is_admin"] in [item["loc"] for item in error["details"]]


async def test_missing_body(client: httpx.AsyncClient) -> None:
    response = await client.post(SETUP)
    assert_envelope(response, 422, "validation_error")


async def test_oversized_body_with_content_length(client: httpx.AsyncClient, settings: Settings) -> None:
    big = b"x" * (settings.server.max_body_bytes + 1)
    response = await client.post(SETUP, content=big, headers={"content-type": "application/json"})
    error = assert_envelope(response, 413, "payload_too_large")
    assert error["details"] == {"max_bytes": settings.server.max_body_bytes}
    assert response.headers["x-request-id"]


async def test_oversized_chunked_body(client: httpx.AsyncClient, settings: Settings) -> None:
    """No Content-Length: the body is counted as it streams and refused once over the limit."""
    chunk = b" " * 65536

    async def stream() -> Any:
        for _ in range(settings.server.max_body_bytes // len(chunk) + 2):
            yield chunk

    response = await client.post(SETUP, content=stream(), headers={"content-type": "application/json"})
    assert_envelope(response, 413, "payload_too_large")


async def test_invalid_content_length(client: httpx.AsyncClient) -> None:
    response = await client.post(SETUP, content=b"{}", headers={"content-length": "abc"})
    assert_envelope(response, 400, "invalid_content_length")


async def test_unknown_route(client: httpx.AsyncClient) -> None:
    error = assert_envelope(await client.get("/v1/does-not-exist"), 404, "not_found")
    assert "/v1/does-not-exist" in error["message"]


async def test_unknown_route_from_a_browser_is_still_json_under_v1(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nope", headers={"accept": "text/html"})
    assert_envelope(response, 404, "not_found")


async def test_wrong_method(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.delete("/v1/system/info"), 405, "method_not_allowed")


async def test_unexpected_error_is_a_500_envelope_without_trace(app: FastAPI) -> None:
    async def explode() -> None:
        raise RuntimeError("database password is hunter2")

    add_test_route(app, "/v1/test-explode", explode)
    async with asgi_client(app) as client:
        response = await client.get("/v1/test-explode", headers={"x-request-id": "req-explode-1"})
    error = assert_envelope(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert error["details"] == {"request_id": "req-explode-1"}
    assert response.headers["x-request-id"] == "req-explode-1"
