"""Engine and session factory for the configured database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from agentic.config import Settings

# How long a SQLite writer waits for the lock before failing, in milliseconds. Workers and the API share one
# file in the embedded default; short write transactions plus this wait keep "database is locked" away.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers proceed while one writer commits; NORMAL sync is durable across process crashes
        # (only an OS crash can lose the last commits), which is the usual WAL trade-off.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    """Create the async engine for `url` (default: the settings' database URL).

    Args:
        settings: Platform settings (pool sizes, timeouts).
        url: Override the URL, e.g. for a per-test database.

    Returns:
        A configured `AsyncEngine`; the caller disposes it.
    """
    url = url or settings.database_url
    parsed = make_url(url)
    db = settings.database
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, echo=db.echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    server_settings = {"application_name": "agentic"}
    if db.statement_timeout_ms:
        server_settings["statement_timeout"] = str(db.statement_timeout_ms)
    return create_async_engine(
        url,
        echo=db.echo,
        pool_size=db.pool_size,
        max_overflow=db.max_overflow,
        pool_timeout=db.pool_timeout_s,
        pool_pre_ping=True,
        connect_args={"server_settings": server_settings, "timeout": db.pool_timeout_s},
    )


def create_session_factory(
    engine: AsyncEngine, *, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Session factory; objects stay usable after commit (we map them to schemas after committing).

    `info` is copied into every session's `info` (the process's signal hub rides there).
    """
    return async_sessionmaker(engine, expire_on_commit=False, info=dict(info or {}))
