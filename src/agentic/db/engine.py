"""Engine and session factory for the configured database, and what counts as a passing database fault.

Connection trouble is told apart from every other error once, here, so that the API (503 instead of 500,
one retry of safe requests) and the engine can act on it alike:

- A connection lost mid-use (terminated by the server, reset, protocol out of step) is flagged by SQLAlchemy
  as a disconnect (`DBAPIError.connection_invalidated`): the connection is dropped, every pooled connection
  older than it is replaced at its next checkout, and `pool_pre_ping` replaces a dead one before it is used.
  The `handle_error` hook below widens what counts as a disconnect on PostgreSQL.
- A connection that cannot be opened (refused, timed out) raises `DatabaseUnreachable`.
- A full pool (`sqlalchemy.exc.TimeoutError`), a server refusing sessions, a SQLite lock held too long.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from agentic.config import Settings

# How long a SQLite writer waits for the lock before failing, in milliseconds. Workers and the API share one
# file in the embedded default; short write transactions plus this wait keep "database is locked" away.
SQLITE_BUSY_TIMEOUT_MS = 10_000

# SQLSTATEs by which PostgreSQL ends a session: class 08 (connection exception), and the server shutting down
# or being terminated (`pg_terminate_backend` is 57P01, admin shutdown).
_SESSION_ENDED_CLASS = "08"
_SESSION_ENDED = frozenset({"57P01", "57P02"})
# SQLSTATEs by which PostgreSQL refuses a new session for now: starting up / in recovery, too many clients.
_SESSION_REFUSED = frozenset({"57P03", "53300"})
# SQLite's primary result codes (the low byte of an extended code) for a lock another connection holds.
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


class DatabaseFault(enum.StrEnum):
    """A passing database condition: the request or write may succeed if tried again."""

    DISCONNECTED = "disconnected"
    """The connection was lost mid-use; a fresh connection may work at once."""
    UNREACHABLE = "unreachable"
    """No connection could be opened, or the server refuses new sessions for now."""
    SATURATED = "saturated"
    """Every pooled connection is busy, or a lock was held longer than we wait."""


class DatabaseUnreachable(sa_exc.SQLAlchemyError):
    """A connection to the database could not be opened (refused, timed out, name not resolved)."""


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


def _open_connection(dialect: Dialect, _record: ConnectionPoolEntry, cargs: Any, cparams: Any) -> Any:
    # Drivers raise bare OSErrors (`ConnectionRefusedError`, `TimeoutError`, `socket.gaierror`) when they
    # cannot connect, indistinguishable from any other I/O error once they leave SQLAlchemy; name them here.
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as exc:
        raise DatabaseUnreachable(f"cannot connect to the database: {type(exc).__name__}: {exc}") from exc


def _flag_lost_connections(context: ExceptionContext) -> None:
    """Treat every sign of a lost PostgreSQL session as a disconnect, so the pool drops the connection.

    asyncpg's dialect recognises a disconnect only once the driver has noticed the socket closed. Right
    after `pg_terminate_backend` the driver may still hold the server's farewell (SQLSTATE 57P01 / 08xxx)
    or have its protocol out of step (`InternalClientError: cannot switch to state …`): either way the
    connection is unusable, and without this flag it would go back to the pool and fail the next request
    too (pre-ping included: a ping failing with a non-disconnect error fails the checkout instead of
    reconnecting).
    """
    if context.is_disconnect:
        return
    import asyncpg  # noqa: PLC0415  # only PostgreSQL engines install this hook

    original = context.original_exception
    if _session_ended(getattr(original, "sqlstate", None)) or isinstance(
        original.__cause__, asyncpg.exceptions.InternalClientError
    ):
        context.is_disconnect = True


def _session_ended(sqlstate: object) -> bool:
    return isinstance(sqlstate, str) and (
        sqlstate.startswith(_SESSION_ENDED_CLASS) or sqlstate in _SESSION_ENDED
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    # The error itself, what it was raised from or while handling, and the members of exception groups
    # (task groups wrap what they raise), each once.
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)


def database_fault(exc: BaseException) -> DatabaseFault | None:
    """What passing database condition `exc` reports, or None when it is not one (a bug, a bad query...).

    Args:
        exc: An exception raised while using the database.

    Returns:
        The fault, or None.
    """
    for error in _chain(exc):
        if isinstance(error, DatabaseUnreachable):
            return DatabaseFault.UNREACHABLE
        if isinstance(error, sa_exc.TimeoutError):  # the pool's: "QueuePool limit … reached"
            return DatabaseFault.SATURATED
        if isinstance(error, sa_exc.DisconnectionError):
            return DatabaseFault.DISCONNECTED
        if isinstance(error, sa_exc.DBAPIError):
            fault = _dbapi_fault(error)
            if fault is not None:
                return fault
    return None


def _dbapi_fault(error: sa_exc.DBAPIError) -> DatabaseFault | None:
    if error.connection_invalidated:
        return DatabaseFault.DISCONNECTED
    sqlstate = getattr(error.orig, "sqlstate", None)
    if _session_ended(sqlstate):
        return DatabaseFault.DISCONNECTED
    if sqlstate in _SESSION_REFUSED:
        return DatabaseFault.UNREACHABLE
    sqlite_code = getattr(error.orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int) and sqlite_code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return DatabaseFault.SATURATED
    return None


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
        pool: dict[str, Any] = {}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # The same pool settings as on PostgreSQL (an in-memory database is one connection, no pool).
            pool = {
                "pool_size": db.pool_size,
                "max_overflow": db.max_overflow,
                "pool_timeout": db.pool_timeout_s,
            }
        engine = create_async_engine(
            url, echo=db.echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **pool
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    server_settings = {"application_name": "agentic"}
    if db.statement_timeout_ms:
        server_settings["statement_timeout"] = str(db.statement_timeout_ms)
    engine = create_async_engine(
        url,
        echo=db.echo,
        pool_size=db.pool_size,
        max_overflow=db.max_overflow,
        pool_timeout=db.pool_timeout_s,
        # A connection the server closed while it sat in the pool is replaced at checkout, at the cost of one
        # round trip; one found dead in use invalidates every older pooled connection (SQLAlchemy's default),
        # so after a server restart or a mass `pg_terminate_backend` the pool renews itself as it is used.
        pool_pre_ping=True,
        connect_args={"server_settings": server_settings, "timeout": db.pool_timeout_s},
    )
    event.listen(engine.sync_engine, "do_connect", _open_connection)
    event.listen(engine.sync_engine, "handle_error", _flag_lost_connections)
    return engine


def create_session_factory(
    engine: AsyncEngine, *, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Session factory; objects stay usable after commit (we map them to schemas after committing).

    `info` is copied into every session's `info` (the process's signal hub rides there).
    """
    return async_sessionmaker(engine, expire_on_commit=False, info=dict(info or {}))
