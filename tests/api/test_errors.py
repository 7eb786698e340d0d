"""Bad input always gets a clear 4xx with the error envelope, never a 500 or a trace; a passing database
fault is a 503 with `Retry-After`, and a safe request meets it only if a fresh connection fails too."""

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask

from agentic.api.deps import SessionDep
from agentic.config import Settings
from agentic.db.engine import DatabaseFault, create_engine, database_fault
from tests.conftest import add_test_route, asgi_client
from tests.support.services import free_port

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


# --- passing database faults: 503 with Retry-After, never a 500; safe requests retried once ----------------


async def _drop_own_connection(session: AsyncSession) -> None:
    """Lose the session's connection under it, as a server restart or `pg_terminate_backend` does."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    else:  # SQLite: close the driver's connection beneath SQLAlchemy
        raw = await connection.get_raw_connection()
        await raw.driver_connection.close()  # type: ignore[union-attr]
    await session.execute(text("SELECT 1"))


def _invalidated() -> sa_exc.DBAPIError:
    return sa_exc.InterfaceError(
        "SELECT 1", {}, Exception("connection is closed"), connection_invalidated=True
    )


def _assert_503(response: httpx.Response, fault: str, retry_after: str) -> dict[str, Any]:
    error = assert_envelope(response, 503, "database_unavailable")
    assert response.headers["retry-after"] == retry_after
    assert error["details"]["fault"] == fault
    assert error["details"]["retry_after_s"] == int(retry_after)
    assert error["details"]["request_id"] == response.headers["x-request-id"]
    assert "SELECT" not in response.text  # never the statement, nor a trace
    return error


async def test_a_read_that_loses_its_connection_is_retried_once_on_a_fresh_one(
    app: FastAPI, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    calls = 0

    async def read(session: SessionDep) -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            await _drop_own_connection(session)
        return {"value": (await session.execute(text("SELECT 41 + 1"))).scalar_one()}

    add_test_route(app, "/v1/test-read", read)
    async with asgi_client(app) as client:
        response = await client.get("/v1/test-read", headers={"x-request-id": "req-retried"})
    assert response.status_code == 200, response.text
    assert response.json() == {"value": 42}
    assert calls == 2
    assert response.headers["x-request-id"] == "req-retried"
    events = [line["event"] for line in log_lines() if line.get("request_id") == "req-retried"]
    assert events.count("http.database_retried") == 1
    assert events.count("http.request") == 1  # one request, one access-log line
    assert "http.unhandled_error" not in events


async def test_a_read_that_fails_twice_is_a_503_with_retry_after(
    app: FastAPI, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    calls = 0

    async def read(session: SessionDep) -> None:
        nonlocal calls
        calls += 1
        await _drop_own_connection(session)

    add_test_route(app, "/v1/test-read-twice", read)
    async with asgi_client(app) as client:
        response = await client.get("/v1/test-read-twice")
        assert (await client.get("/v1/system/info")).status_code == 200  # the pool recovered
    _assert_503(response, "disconnected", "1")
    assert calls == 2
    lines = log_lines()
    assert not [line for line in lines if "exception" in line or line.get("event") == "http.unhandled_error"]
    assert [line["event"] for line in lines if line.get("event", "").startswith("http.database")] == [
        "http.database_retried",
        "http.database_unavailable",
    ]


async def test_a_write_that_loses_its_connection_is_never_replayed(app: FastAPI) -> None:
    calls = 0

    async def write(session: SessionDep) -> None:
        nonlocal calls
        calls += 1
        await _drop_own_connection(session)

    app.add_api_route("/v1/test-write", write, methods=["POST"])
    app.router.routes.insert(0, app.router.routes.pop())
    async with asgi_client(app) as client:
        response = await client.post("/v1/test-write", json={"n": 1})
    _assert_503(response, "disconnected", "1")
    assert calls == 1  # it may have committed: the client decides (Idempotency-Key)


async def test_a_retried_read_sees_its_request_body_again(app: FastAPI) -> None:
    bodies: list[bytes] = []

    async def read(request: Request) -> None:
        bodies.append(await request.body())
        if len(bodies) == 1:
            raise _invalidated()

    add_test_route(app, "/v1/test-read-body", read)
    async with asgi_client(app) as client:
        response = await client.request("GET", "/v1/test-read-body", content=b"x" * 100_000)
    assert response.status_code == 200, response.text
    assert bodies == [b"x" * 100_000] * 2


async def test_a_fault_after_a_whole_response_is_only_logged(
    app: FastAPI, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    """Closing the request's session after the response went out meets a dead connection: not an error."""

    async def cleanup_fails() -> None:
        raise _invalidated()

    async def created() -> JSONResponse:
        return JSONResponse({"id": 1}, status_code=201, background=BackgroundTask(cleanup_fails))

    app.add_api_route("/v1/test-after", created, methods=["POST"])
    app.router.routes.insert(0, app.router.routes.pop())
    async with asgi_client(app) as client:
        response = await client.post("/v1/test-after", headers={"x-request-id": "req-after"})
    assert response.status_code == 201
    assert response.json() == {"id": 1}
    events = [line["event"] for line in log_lines() if line.get("request_id") == "req-after"]
    assert "http.database_fault_after_response" in events
    assert "http.unhandled_error" not in events


async def test_an_unreachable_database_is_a_503_without_retry(app: FastAPI, settings: Settings) -> None:
    engine = create_engine(settings, url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere")
    calls = 0

    async def read() -> None:
        nonlocal calls
        calls += 1
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    add_test_route(app, "/v1/test-unreachable", read)
    try:
        async with asgi_client(app) as client:
            response = await client.get("/v1/test-unreachable")
    finally:
        await engine.dispose()
    _assert_503(response, "unreachable", "5")
    assert calls == 1  # connecting again at once would make the client wait twice for nothing


async def test_a_full_pool_is_a_503_without_retry(app: FastAPI) -> None:
    calls = 0

    async def read() -> None:
        nonlocal calls
        calls += 1
        raise sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached, connection timed out")

    add_test_route(app, "/v1/test-pool", read)
    async with asgi_client(app) as client:
        response = await client.get("/v1/test-pool")
    _assert_503(response, "saturated", "2")
    assert calls == 1


async def test_other_database_errors_stay_500(app: FastAPI) -> None:
    async def read(session: SessionDep) -> None:
        await session.execute(text("SELECT * FROM no_such_table"))

    add_test_route(app, "/v1/test-bad-sql", read)
    async with asgi_client(app) as client:
        response = await client.get("/v1/test-bad-sql")
    assert_envelope(response, 500, "internal_error")


def test_sqlite_database_is_locked_is_a_passing_fault(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path)
    holder.execute("CREATE TABLE t (x)")
    holder.commit()
    holder.execute("BEGIN EXCLUSIVE")
    waiter = sqlite3.connect(path, timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError) as raised:
            waiter.execute("INSERT INTO t VALUES (1)")
    finally:
        waiter.close()
        holder.close()
    locked = sa_exc.OperationalError("INSERT INTO t VALUES (1)", {}, raised.value)
    assert database_fault(locked) is DatabaseFault.SATURATED
    assert (
        database_fault(sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table")))
        is None
    )


def test_postgres_session_ends_are_faults_and_other_errors_are_not() -> None:
    class Orig(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    def fault(sqlstate: str) -> DatabaseFault | None:
        return database_fault(sa_exc.DBAPIError("SELECT 1", {}, Orig(sqlstate)))

    assert fault("57P01") is DatabaseFault.DISCONNECTED  # pg_terminate_backend
    assert fault("08006") is DatabaseFault.DISCONNECTED  # connection failure
    assert fault("57P03") is DatabaseFault.UNREACHABLE  # starting up
    assert fault("53300") is DatabaseFault.UNREACHABLE  # too many connections
    assert fault("23505") is None  # unique violation: a conflict, not a passing fault
    assert fault("42P01") is None  # undefined table: a bug
    # Raised while handling a dropped connection still stems from it.
    with pytest.raises(sa_exc.PendingRollbackError) as raised:
        _raise_while_handling_a_dropped_connection()
    assert database_fault(raised.value) is DatabaseFault.DISCONNECTED


def _raise_while_handling_a_dropped_connection() -> None:
    try:
        raise _invalidated()
    except sa_exc.DBAPIError:
        raise sa_exc.PendingRollbackError(
            "Can't reconnect until invalid transaction is rolled back"
        ) from None
