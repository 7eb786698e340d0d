"""Shared fixtures.

Every database test runs twice, on SQLite and on PostgreSQL (the `backend` fixture), each time against a
database of its own cloned from a template migrated once per session: isolated and fast.
"""

from __future__ import annotations

import asyncio
import gc
import io
import ipaddress
import json
import logging
import shutil
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.api.app import create_app
from agentic.config import (
    AdminSettings,
    DatabaseSettings,
    Environment,
    LogSettings,
    RedisSettings,
    Settings,
    WorkerSettings,
)
from agentic.db import migrate
from agentic.db.engine import create_engine, create_session_factory
from agentic.ids import new_id
from agentic.logging import configure_logging
from agentic.resources import Resources
from tests.support import services
from tests.support.smtp import smtp_server_fixture  # noqa: F401  # registers the `smtp_server` fixture

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


# --- network guard -----------------------------------------------------------------------------------------


class NetworkBlockedError(RuntimeError):
    """A test tried to reach a host outside this machine."""


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):
        return True  # AF_UNIX socket path
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host in ("localhost", "", "::1") or host.startswith("127."):
            return True
        try:
            parsed = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        return parsed.is_loopback or (
            isinstance(parsed, ipaddress.IPv6Address)
            and parsed.ipv4_mapped is not None
            and parsed.ipv4_mapped.is_loopback
        )
    return False


@pytest.fixture(scope="session", autouse=True)
def _block_outside_network() -> Iterator[None]:
    """Tests never reach a real LLM provider (or any other outside host): every non-loopback connect fails."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_local(address):
            raise NetworkBlockedError(f"tests may not connect to {address!r}")
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_local(address):
            raise NetworkBlockedError(f"tests may not connect to {address!r}")
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]


# --- timing ----------------------------------------------------------------------------------------


@pytest.fixture
def no_gc_pauses() -> Iterator[None]:
    """Keep the garbage collector's pauses out of a latency a test measures.

    Late in a full run this one process holds a large heap, and a full collection stops the event loop — the
    server's and the client's at once — for up to a second on a slow machine (CI saw a cancel answered in
    1,001 ms that way). That is the test process's pause, not the platform's latency.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# --- logging ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _json_logging() -> None:
    """Log as production does (JSON on stderr), so tests can assert on log lines."""
    configure_logging(LogSettings(level="INFO", format="json"), Environment.TEST)


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Capture what the platform's log handler writes; call the result to get the JSON lines so far."""
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler))
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    finally:
        handler.setStream(previous)


# --- services --------------------------------------------------------------------------------------


def _service(request: pytest.FixtureRequest, starter: object, name: str) -> Iterator[services.Service | None]:
    try:
        with starter() as service:  # type: ignore[operator]
            yield service
    except services.ServiceUnavailableError as exc:
        if services.IN_CI:
            pytest.fail(f"{name} is required in CI: {exc}")
        yield None


@pytest.fixture(scope="session")
def postgres_service(request: pytest.FixtureRequest) -> Iterator[services.Service | None]:
    """The session's PostgreSQL server, or None when neither reachable nor startable (outside CI only)."""
    yield from _service(request, services.postgres, "PostgreSQL")


@pytest.fixture(scope="session")
def redis_service(request: pytest.FixtureRequest) -> Iterator[services.Service | None]:
    """The session's Redis server, or None when neither reachable nor startable (outside CI only)."""
    yield from _service(request, services.redis, "Redis")


@pytest.fixture
async def redis_url(redis_service: services.Service | None) -> str:
    """A Redis URL on an emptied database; skips (fails in CI) when Redis is unavailable."""
    if redis_service is None:
        pytest.skip("Redis unavailable")
    client = Redis.from_url(redis_service.url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return redis_service.url


@pytest.fixture
def own_redis() -> Iterator[services.RedisServer]:
    """A Redis of this test's own, which it may stop and start again (never the shared one)."""
    try:
        with services.throwaway_redis() as server:
            yield server
    except services.ServiceUnavailableError as exc:
        if services.IN_CI:
            pytest.fail(f"redis-server is required in CI: {exc}")
        pytest.skip(str(exc))


# --- databases -------------------------------------------------------------------------------------


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _sqlalchemy_url(admin_url: str, database: str) -> str:
    return (
        make_url(admin_url)
        .set(drivername="postgresql+asyncpg", database=database)
        .render_as_string(hide_password=False)
    )


class PostgresDatabases:
    """Creates and drops per-test databases on the session's server."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.template: str | None = None
        self._template_lock = asyncio.Lock()

    async def _admin(self, *statements: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(self.admin_url), timeout=10)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def create(self, *, migrated: bool) -> str:
        name = f"agentic_t_{new_id().hex}"
        if migrated:
            template = await self._migrated_template()
            await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            await self._admin(f'CREATE DATABASE "{name}"')
        return name

    async def drop(self, name: str) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _migrated_template(self) -> str:
        async with self._template_lock:
            if self.template is None:
                name = f"agentic_tpl_{new_id().hex}"
                await self._admin(f'CREATE DATABASE "{name}"')
                engine = create_engine(Settings(), url=_sqlalchemy_url(self.admin_url, name))
                try:
                    await migrate.upgrade(engine)
                finally:
                    await engine.dispose()
                self.template = name
            return self.template

    def url(self, name: str) -> str:
        return _sqlalchemy_url(self.admin_url, name)


@pytest.fixture(scope="session")
async def postgres_databases(
    postgres_service: services.Service | None,
) -> AsyncIterator[PostgresDatabases | None]:
    """Per-test database factory on PostgreSQL (None when PostgreSQL is unavailable outside CI)."""
    if postgres_service is None:
        yield None
        return
    factory = PostgresDatabases(postgres_service.url)
    yield factory
    if factory.template is not None:
        await factory.drop(factory.template)


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; tests get copies."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = create_engine(Settings(), url=f"sqlite+aiosqlite:///{path}")
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, postgres_databases: PostgresDatabases | None) -> str:
    """The database backend under test: every test using a database runs on both."""
    name: str = request.param
    if name == "postgresql" and postgres_databases is None:
        pytest.skip("PostgreSQL unavailable")
    return name


async def _database(
    backend: str, tmp_path: Path, postgres: PostgresDatabases | None, sqlite_template: Path | None
) -> AsyncIterator[str]:
    if backend == "sqlite":
        path = tmp_path / "test.db"
        if sqlite_template is not None:
            shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    assert postgres is not None
    name = await postgres.create(migrated=sqlite_template is not None)
    try:
        yield postgres.url(name)
    finally:
        await postgres.drop(name)


@pytest.fixture
async def database_url(
    backend: str, tmp_path: Path, postgres_databases: PostgresDatabases | None, sqlite_template: Path
) -> AsyncIterator[str]:
    """An isolated database of this test's own, migrated to head."""
    async for url in _database(backend, tmp_path, postgres_databases, sqlite_template):
        yield url


@pytest.fixture
async def empty_database_url(
    backend: str, tmp_path: Path, postgres_databases: PostgresDatabases | None
) -> AsyncIterator[str]:
    """An isolated, empty (never migrated) database of this test's own."""
    async for url in _database(backend, tmp_path, postgres_databases, None):
        yield url


@pytest.fixture
async def postgres_database_url(
    tmp_path: Path, postgres_databases: PostgresDatabases | None, sqlite_template: Path
) -> AsyncIterator[str]:
    """A migrated PostgreSQL database of this test's own, for tests of the scale-out configuration only."""
    if postgres_databases is None:
        pytest.skip("PostgreSQL unavailable")
    async for url in _database("postgresql", tmp_path, postgres_databases, sqlite_template):
        yield url


# --- settings, app, client -------------------------------------------------------------------------


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    """Test settings, independent of the developer's environment variables."""
    values: dict[str, object] = {
        "env": Environment.TEST,
        "data_dir": tmp_path / "data",
        "database": DatabaseSettings(url=database_url),
        "redis": RedisSettings(url=None),
        "worker": WorkerSettings(in_process=False),
        "admin": AdminSettings(email=None, password=None),
        "log": LogSettings(level="INFO", format="json"),
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings pointing at this test's database."""
    return make_settings(tmp_path, database_url)


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    """An HTTP client talking to `app` in-process; server errors come back as responses, as in production."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def add_test_route(app: FastAPI, path: str, endpoint: Callable[..., Awaitable[Any]]) -> None:
    """Add a route for one test, ahead of the UI's catch-all mount."""
    app.add_api_route(path, endpoint)
    app.router.routes.insert(0, app.router.routes.pop())


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The application with its lifespan running."""
    application = create_app(settings, run_workers=False)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP client for `app`."""
    async with asgi_client(app) as http:
        yield http


@pytest.fixture
def resources(app: FastAPI) -> Resources:
    """The running app's resources (same secret key, hasher, mailer and throttle as the requests see)."""
    found: Resources = app.state.resources
    return found


@pytest.fixture
async def db(resources: Resources) -> AsyncIterator[AsyncSession]:
    """A session on the app's engine, for arranging data and checking results."""
    async with resources.sessions() as db_session:
        yield db_session


@pytest.fixture
async def session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A database session on this test's database."""
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as db:
            yield db
    finally:
        await engine.dispose()


# --- reporting -------------------------------------------------------------------------------------

_backend_outcomes: Counter[tuple[str, str]] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count outcomes per database backend, so the run shows both backends really ran."""
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    for backend_name in ("sqlite", "postgresql"):
        if f"[{backend_name}" in report.nodeid or f"-{backend_name}]" in report.nodeid:
            _backend_outcomes[(backend_name, report.outcome)] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the per-backend counts."""
    terminalreporter.section("database backends")
    for backend_name in ("sqlite", "postgresql"):
        counts = {
            outcome: _backend_outcomes[(backend_name, outcome)] for outcome in ("passed", "failed", "skipped")
        }
        terminalreporter.write_line(
            f"database tests on {backend_name}: passed={counts['passed']} failed={counts['failed']} "
            f"skipped={counts['skipped']}"
        )
