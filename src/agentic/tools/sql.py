"""Run one read-only SQL query against a database an organisation registered (the `sql_query` tool's engine).

Every guarantee below is enforced by the database engine or its driver, never by inspecting the SQL text:
parsing SQL with patterns is a defence a creative query can always get around.

**PostgreSQL** (asyncpg, one fresh connection per call):

* The connection is opened from explicit parameters, never from a DSN string handed to asyncpg, so the
  platform's own ``PGPASSWORD``/``PGHOST``/``PGSERVICE``/``~/.pgpass`` can never fill in what a tenant's
  DSN left out (a DSN without a password would otherwise send the platform's password to the tenant's server).
* ``BEGIN TRANSACTION READ ONLY`` with ``SET LOCAL`` ``statement_timeout``, ``lock_timeout`` and
  ``idle_in_transaction_session_timeout``; the server refuses every write and DDL with SQLSTATE 25006.
* A query runs before the caller's statement (the role check below), so the transaction already holds a
  snapshot: ``SET TRANSACTION READ WRITE`` / ``set_config('transaction_read_only', 'off', …)`` then fail
  ("must be set before any query") instead of flipping the transaction to read-write.
* The caller's SQL goes through the extended protocol (``prepare`` + a portal fetched in batches), whose
  Parse message holds exactly one statement: ``SELECT 1; DELETE FROM t`` is refused by the server
  ("cannot insert multiple commands into a prepared statement"). A lone ``COMMIT``/``ROLLBACK`` does end
  our transaction, but nothing can run after it, and the call then fails with ``sql_read_only`` (the server
  reports the session no longer in a transaction). The simple-query protocol (``Connection.execute``
  without arguments), which does accept several statements, only ever runs this module's own constant SQL.
* The transaction is always rolled back and the connection closed, both under a timeout; a connection in
  an unknown state (client-side timeout, cancellation) is terminated instead, and on PostgreSQL 14+
  ``client_connection_check_interval`` makes the server abort the running statement soon after.

A read-only transaction does not stop a superuser (or a member of ``pg_execute_server_program``,
``pg_read_server_files``, ``pg_write_server_files``): ``COPY … TO PROGRAM`` runs a shell command on the
database host and ``pg_read_file`` reads its files, both inside a read-only transaction. Register DSNs with
a least-privilege role (``CREATE ROLE agent_reader LOGIN PASSWORD …; GRANT CONNECT …; GRANT USAGE ON
SCHEMA …; GRANT SELECT ON …``); `run_query` refuses such privileged roles (code ``sql_privileged_role``)
unless ``allow_superuser=True``.

**SQLite** (the standard ``sqlite3`` module in a worker thread):

* The file is opened with the URI ``file:…?mode=ro`` (read-only at the API level: no write, no create, and
  a missing file fails instead of being created), then ``PRAGMA query_only = ON`` and
  ``PRAGMA trusted_schema = OFF`` (views and triggers of an untrusted file cannot call risky functions).
* An authorizer (`_SqliteGuard`) allows only reading (SELECT, reads, functions, recursive CTEs) and a
  short list of introspection pragmas; it denies ATTACH/DETACH, every write and DDL, transaction control,
  changing pragmas and ``load_extension``. ``SQLITE_LIMIT_ATTACHED`` is 0 as a second lock on ATTACH, and
  extension loading stays disabled.
* ``Cursor.execute`` compiles a single statement and refuses a non-empty tail ("You can only execute one
  statement at a time"), so a second statement never runs.
* The timeout is a progress handler that interrupts the VM past the deadline (SQLite's own
  ``sqlite3_interrupt`` path), plus the busy timeout for locks.

Both backends stop reading at ``max_rows`` or ``max_bytes`` (of the compact JSON encoding of the rows) and
report why; rows are fetched in batches, so a huge result is never loaded whole (a single huge value still is:
see `run_query`). Values are made JSON-able:
dates and times become ISO 8601 strings, ``Decimal`` a string (no precision lost), UUIDs and network
addresses strings, bytes base64 (standard alphabet), non-finite floats strings, ranges objects
(``lower``/``upper``/``lower_inc``/``upper_inc``/``empty``), PostgreSQL ``json``/``jsonb``
decoded into objects, arrays lists, named composite types objects (anonymous records lists), intervals
``str(timedelta)`` (``"1 day, 2:00:00"``); anything else its ``str()``. SQLite has no date or JSON types:
such values come back as the text (or number) stored.

**Left to the caller** (registration and tool wiring):

* Which hosts a tenant may name: a DSN may point at any host the platform can reach, including the
  platform's own database or other internal services. Restrict it at registration where that matters.
* Which SQLite files: pass ``sqlite_dirs``; without it any file the platform can read is accepted,
  including the platform's own SQLite database.

**Known limits**: one value is always read whole (PostgreSQL has no client-side cap on a single value,
so a 500 MB ``bytea`` is received before ``max_bytes`` drops its row; SQLite caps values at
``max(4 * max_bytes, 1 MB)``). ``sslmode`` is interpreted by asyncpg, which looks for a root certificate
and a client certificate in the platform's ``~/.postgresql`` and ``PGSSL*`` variables. A role that holds
write privileges can still take table locks (``LOCK TABLE``) for the length of one call. On a server with
``max_prepared_transactions > 0`` (the default is 0), ``PREPARE TRANSACTION 'x'`` would persist our read-only
transaction with its locks; the call fails, but an administrator must ``ROLLBACK PREPARED`` it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import math
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from os import PathLike
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import asyncpg

from agentic.errors import AgenticError

__all__ = [
    "DEFAULT_LIMITS",
    "DsnKind",
    "SqlLimits",
    "SqlResult",
    "parse_dsn",
    "redact_dsn",
    "run_query",
]

DsnKind = Literal["postgresql", "sqlite"]
TruncatedReason = Literal["max_rows", "max_bytes"]

APPLICATION_NAME: Final = "agentic-sql-tool"

# Client-side deadlines sit this far beyond the server's own, so the server's precise error (with its
# SQLSTATE) normally wins; the client deadline only catches a server or network that stopped answering.
_CLIENT_GRACE_S: Final = 1.0
# ROLLBACK and close are cheap; a peer that does not answer within this is cut off (terminate).
_CLOSE_TIMEOUT_S: Final = 2.0
# Rows per fetch: small enough that one batch of wide rows stays modest in memory, large enough that a
# thousand-row result takes few round trips.
_BATCH_ROWS: Final = 100
# SQLite calls the progress handler every this many VM instructions (microseconds apart).
_SQLITE_PROGRESS_STEPS: Final = 1000
# SQLite's largest string/blob/row, as a multiple of max_bytes: a value that large could never be returned
# anyway, and the cap keeps `randomblob(1e9)`-style queries from allocating gigabytes.
_SQLITE_LENGTH_FACTOR: Final = 4

_PG_SCHEMES: Final = frozenset({"postgresql", "postgres"})
_PG_SSLMODES: Final = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
# Query options a tenant DSN may carry. Everything else is refused: asyncpg would forward unknown options
# to the server as settings, and options such as `passfile`, `sslrootcert` or `service` name files on the
# platform's host.
_PG_ALLOWED_OPTIONS: Final = frozenset({"sslmode"})
_PG_HOST = re.compile(r"[A-Za-z0-9._-]+")
# PostgreSQL 14 added client_connection_check_interval: a running query notices a vanished client.
_PG_CONNECTION_CHECK_SINCE: Final = 14
_PG_CONNECTION_CHECK_MS: Final = 250
_PG_JSON_TYPES: Final = frozenset({"json", "jsonb"})
_PG_JSON_ARRAY_TYPES: Final = frozenset({"json[]", "jsonb[]", "_json", "_jsonb"})
# SQLSTATEs of the server enforcing our limits.
_PG_TIMEOUT_STATES: Final = frozenset({"57014", "55P03", "25P03"})  # canceled, lock timeout, idle timeout
# 25006 read_only_sql_transaction; 25001 active_sql_transaction (e.g. SET TRANSACTION READ WRITE after the
# snapshot, VACUUM inside our transaction); 2D000 invalid_transaction_termination (COMMIT inside DO/CALL).
_PG_READ_ONLY_STATES: Final = frozenset({"25006", "25001", "2D000"})
# Class 08 (connection exception) and 57P0x (server shutting down / not accepting connections).
_PG_UNAVAILABLE_PREFIXES: Final = ("08", "57P")
# Roles whose holder can run programs or touch files on the database host, read-only transaction or not.
_PG_PRIVILEGE_QUERY: Final = """
SELECT current_setting('is_superuser') = 'on' AS superuser,
       ARRAY(
           SELECT r.rolname::text FROM pg_catalog.pg_roles AS r
           WHERE r.rolname IN ('pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files')
             AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')
           ORDER BY 1
       ) AS roles
"""

_SQLITE_PREFIX: Final = "sqlite:///"
# Introspection pragmas that take a table/index name as argument and only read.
_SQLITE_PRAGMAS_WITH_ARG: Final = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
# Pragmas allowed only as a read (no argument): with an argument most of them change the database/session.
_SQLITE_PRAGMAS_READ: Final = _SQLITE_PRAGMAS_WITH_ARG | frozenset(
    {
        "application_id",
        "collation_list",
        "compile_options",
        "database_list",
        "encoding",
        "foreign_keys",
        "freelist_count",
        "function_list",
        "module_list",
        "page_count",
        "page_size",
        "pragma_list",
        "query_only",
        "schema_version",
        "user_version",
    }
)
_SQLITE_DENIED_FUNCTIONS: Final = frozenset({"load_extension", "fts3_tokenizer"})
_SQLITE_ALLOWED_ACTIONS: Final = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
_SQLITE_ACTION_NAMES: Final = {
    getattr(sqlite3, name): name.removeprefix("SQLITE_").lower()
    for name in (
        "SQLITE_ALTER_TABLE",
        "SQLITE_ANALYZE",
        "SQLITE_ATTACH",
        "SQLITE_CREATE_INDEX",
        "SQLITE_CREATE_TABLE",
        "SQLITE_CREATE_TEMP_INDEX",
        "SQLITE_CREATE_TEMP_TABLE",
        "SQLITE_CREATE_TEMP_TRIGGER",
        "SQLITE_CREATE_TEMP_VIEW",
        "SQLITE_CREATE_TRIGGER",
        "SQLITE_CREATE_VIEW",
        "SQLITE_CREATE_VTABLE",
        "SQLITE_DELETE",
        "SQLITE_DETACH",
        "SQLITE_DROP_INDEX",
        "SQLITE_DROP_TABLE",
        "SQLITE_DROP_TEMP_INDEX",
        "SQLITE_DROP_TEMP_TABLE",
        "SQLITE_DROP_TEMP_TRIGGER",
        "SQLITE_DROP_TEMP_VIEW",
        "SQLITE_DROP_TRIGGER",
        "SQLITE_DROP_VIEW",
        "SQLITE_DROP_VTABLE",
        "SQLITE_FUNCTION",
        "SQLITE_INSERT",
        "SQLITE_PRAGMA",
        "SQLITE_REINDEX",
        "SQLITE_SAVEPOINT",
        "SQLITE_TRANSACTION",
        "SQLITE_UPDATE",
    )
    if hasattr(sqlite3, name)
}


# --- public types -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SqlLimits:
    """Bounds of one query.

    Attributes:
        statement_timeout_s: Wall-clock budget of the query itself (server-side `statement_timeout` on
            PostgreSQL, a VM interrupt on SQLite), fetching included.
        max_rows: Rows returned at most; reading stops there (`truncated_reason="max_rows"`).
        max_bytes: Size at most of the rows' compact JSON encoding (UTF-8); reading stops before the row
            that would exceed it (`truncated_reason="max_bytes"`).
        connect_timeout_s: Budget for connecting and preparing the session (PostgreSQL) or opening the file
            (SQLite).
    """

    statement_timeout_s: float = 10.0
    max_rows: int = 1000
    max_bytes: int = 1_000_000
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        # Misconfiguration is a programming error (ValueError), not something to report to the model.
        if not (self.statement_timeout_s > 0 and self.connect_timeout_s > 0):
            raise ValueError("timeouts must be positive")
        if self.max_rows < 1 or self.max_bytes < 1:
            raise ValueError("max_rows and max_bytes must be at least 1")


DEFAULT_LIMITS: Final = SqlLimits()


@dataclass(frozen=True, slots=True)
class SqlResult:
    """What one query returned.

    Attributes:
        columns: Column names, in order (empty for statements that return no rows).
        rows: One list of JSON-able values per row (see the module docstring for the conversions).
        row_count: `len(rows)`: rows returned, not rows the query would have produced.
        truncated: True when reading stopped at a limit; more rows may exist.
        truncated_reason: `"max_rows"` or `"max_bytes"` when truncated, else None.
    """

    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    truncated_reason: TruncatedReason | None


# --- DSNs -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PgTarget:
    """A validated PostgreSQL DSN, as explicit connection parameters."""

    host: str
    port: int
    user: str
    password: str | None = field(repr=False)
    database: str
    sslmode: str


def _invalid(message: str) -> AgenticError:
    return AgenticError(message, code="invalid_dsn")


def _scheme_of(dsn: str) -> str:
    scheme, sep, _ = dsn.partition(":")
    return scheme.lower() if sep else ""


def _parse_postgres(dsn: str) -> _PgTarget:
    try:
        parts = urlsplit(dsn)
        port = parts.port
    except ValueError as exc:
        # urlsplit's messages quote only the offending port/host part, never the password.
        raise _invalid(f"invalid PostgreSQL DSN: {exc}") from None
    if not dsn[len(parts.scheme) + 1 :].startswith("//"):
        raise _invalid("invalid PostgreSQL DSN: expected postgresql://user:password@host:port/database")
    if parts.fragment:
        raise _invalid("invalid PostgreSQL DSN: unexpected '#' fragment")
    hostinfo = parts.netloc.rpartition("@")[2]
    host = parts.hostname or ""
    # A host is required: without one asyncpg would fall back to the platform's PGHOST or local Unix
    # sockets, i.e. to the platform's own database server. Multi-host lists and socket paths are refused.
    if not host:
        raise _invalid("PostgreSQL DSN needs a host: postgresql://user:password@host:port/database")
    if "," in hostinfo or not (_PG_HOST.fullmatch(host) or _is_ip_literal(host)):
        raise _invalid(f"PostgreSQL DSN has an unsupported host {host!r} (one TCP host name or address)")
    user = unquote(parts.username or "")
    if not user:
        # Without one asyncpg would use PGUSER or the platform's OS user name.
        raise _invalid("PostgreSQL DSN needs a user name: postgresql://user:password@host/database")
    password = unquote(parts.password) if parts.password is not None else None
    database = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    if "/" in database:
        raise _invalid("PostgreSQL DSN has an invalid database name")
    try:
        options = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise _invalid("PostgreSQL DSN has a malformed query string") from None
    sslmode = "prefer"  # libpq's default
    for key, value in options:
        if key not in _PG_ALLOWED_OPTIONS:
            raise _invalid(f"PostgreSQL DSN option {key!r} is not supported (supported: sslmode)")
        if value not in _PG_SSLMODES:
            raise _invalid(f"sslmode must be one of {', '.join(sorted(_PG_SSLMODES))}")
        sslmode = value
    return _PgTarget(
        host=host,
        port=port or 5432,
        user=user,
        password=password,
        database=database or user,  # libpq's default, made explicit so PGDATABASE plays no part
        sslmode=sslmode,
    )


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _parse_sqlite(dsn: str, sqlite_dirs: Sequence[str | PathLike[str]] | None) -> str:
    if dsn[: len(_SQLITE_PREFIX)].lower() != _SQLITE_PREFIX:
        raise _invalid("SQLite DSN must be sqlite:////absolute/path/to/file.db")
    path = dsn[len(_SQLITE_PREFIX) :]
    if path == "" or path.startswith(":memory:") or "mode=memory" in path:
        raise _invalid("in-memory SQLite databases are not supported: give the path of a database file")
    if "?" in path or "#" in path or "\x00" in path:
        raise _invalid("SQLite DSN takes no options: sqlite:////absolute/path/to/file.db")
    if not path.startswith("/"):
        # SQLAlchemy's convention: three slashes then a relative path, four for an absolute one. A path
        # relative to the server's working directory means nothing to a tenant.
        raise _invalid("SQLite path must be absolute: sqlite:////absolute/path/to/file.db")
    if sqlite_dirs is not None:
        _check_sqlite_dir(path, sqlite_dirs)
    return path


def _check_sqlite_dir(path: str, sqlite_dirs: Sequence[str | PathLike[str]]) -> Path:
    # Resolve symlinks and `..` first: the check is on the file that would really be opened.
    resolved = Path(path).resolve()
    if not any(resolved.is_relative_to(Path(root).resolve()) for root in sqlite_dirs):
        raise _invalid("this SQLite file is outside the directories allowed for SQLite connections")
    return resolved


def parse_dsn(dsn: str, *, sqlite_dirs: Sequence[str | PathLike[str]] | None = None) -> tuple[DsnKind, str]:
    """Validate a connection string; use it when a connection is registered as well as before each query.

    Accepted forms:

    * ``postgresql://user[:password]@host[:port][/database][?sslmode=…]`` (``postgres://`` too). A host and
      a user are required (nothing is taken from the platform's ``PG*`` environment); percent-encode
      special characters in the user and password; ``sslmode`` is the only option.
    * ``sqlite:////absolute/path/to/file.db`` (SQLAlchemy's spelling: three slashes, then an absolute path).
      In-memory databases, URI options and relative paths are refused. Whether the file exists is checked
      when a query runs (`sql_unavailable`).

    Args:
        dsn: The connection string.
        sqlite_dirs: When given, SQLite files must lie (after resolving symlinks) inside one of these
            directories. Pass it for tenant-registered DSNs: without it any file the platform can read is
            accepted, including the platform's own SQLite database.

    Returns:
        The backend and the normalised target: the DSN with the ``postgresql://`` scheme, or the SQLite
        file path.

    Raises:
        AgenticError: `invalid_dsn`, with a message that never repeats the password.
    """
    if not isinstance(dsn, str) or not dsn.strip():
        raise _invalid("empty DSN")
    scheme = _scheme_of(dsn)
    if scheme in _PG_SCHEMES:
        _parse_postgres(dsn)
        return "postgresql", "postgresql" + dsn[len(scheme) :]
    if scheme == "sqlite":
        return "sqlite", _parse_sqlite(dsn, sqlite_dirs)
    shown = f"{scheme!r}" if scheme and len(scheme) <= 32 and scheme.isascii() else "this"
    raise _invalid(
        f"{shown} connection scheme is not supported: use postgresql://… or sqlite:////path/to/file.db"
    )


_REDACT_FALLBACK = re.compile(r"^([^:/?#]+://[^:/?#@]*):.*@")
_REDACT_QUERY = re.compile(r"(?i)([?&]password=)[^&#]*")


def redact_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ``***``, for display and logs.

    Handles the password in the user-info part and a ``password=`` query option, and falls back to a
    conservative textual redaction when the DSN cannot be parsed as a URL (it may hide more than the
    password then, never less).

    Args:
        dsn: Any connection string, valid or not.

    Returns:
        The redacted connection string.
    """
    try:
        parts = urlsplit(dsn)
        password = parts.password
    except ValueError:
        return _REDACT_QUERY.sub(r"\1***", _REDACT_FALLBACK.sub(r"\1:***@", dsn))
    redacted = dsn
    if password is not None:
        # Splice the new user-info into the original text (urlunsplit would re-spell other parts).
        start = dsn.find("//") + 2
        userinfo, _, hostinfo = parts.netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{hostinfo}"
        redacted = dsn[:start] + netloc + dsn[start + len(parts.netloc) :]
    return _REDACT_QUERY.sub(r"\1***", redacted)


# --- results ----------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:  # noqa: PLR0911  # one conversion table, read top to bottom
    """A JSON-encodable rendering of one database value (see the module docstring)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # JSON has no NaN/Infinity; json.dumps would emit invalid JSON for them.
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)  # a float would lose digits of numeric/money values
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, asyncpg.Range):
        return {
            "lower": _jsonable(value.lower),
            "upper": _jsonable(value.upper),
            "lower_inc": value.lower_inc,
            "upper_inc": value.upper_inc,
            "empty": value.isempty,
        }
    if isinstance(value, asyncpg.Record):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    # timedelta, ipaddress objects, asyncpg's BitString and geometric types: their text form.
    return str(value)


def _decode_json(value: Any) -> Any:
    """Decode json/jsonb text (asyncpg returns a string), through arrays: the caller sees the structure."""
    if isinstance(value, str):
        return json.loads(value)
    if isinstance(value, list):
        return [_decode_json(item) for item in value]
    return value


class _Collector:
    """Accumulates converted rows until a limit is reached."""

    def __init__(self, limits: SqlLimits) -> None:
        self.limits = limits
        self.rows: list[list[Any]] = []
        self.size = 1  # "[" + rows each followed by "," or "]"
        self.reason: TruncatedReason | None = None

    def add(self, row: list[Any]) -> bool:
        """Keep `row` if it fits; False (and the reason recorded) once reading must stop."""
        if len(self.rows) >= self.limits.max_rows:
            self.reason = "max_rows"
            return False
        size = len(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()) + 1
        if self.size + size > self.limits.max_bytes:
            self.reason = "max_bytes"
            return False
        self.rows.append(row)
        self.size += size
        return True

    def result(self, columns: list[str]) -> SqlResult:
        return SqlResult(
            columns=columns,
            rows=self.rows,
            row_count=len(self.rows),
            truncated=self.reason is not None,
            truncated_reason=self.reason,
        )


# --- entry point ------------------------------------------------------------------------------------------


async def run_query(
    dsn: str,
    sql: str,
    *,
    params: list[Any] | None = None,
    limits: SqlLimits = DEFAULT_LIMITS,
    allow_superuser: bool = False,
    sqlite_dirs: Sequence[str | PathLike[str]] | None = None,
) -> SqlResult:
    """Run one read-only statement and return (at most a bounded part of) its rows.

    One statement per call: a string with several statements is refused by the driver/server. Parameters
    are bound by the database, never interpolated; the placeholder style is the backend's own:

    * PostgreSQL: ``$1``, ``$2``, … Values are bound with their Python/JSON types and must match the type
      the server infers (``WHERE id = $1`` with an integer column needs an int; pass text and cast,
      ``$1::text::date``, for other types; a json parameter is a string).
    * SQLite: ``?`` (or ``?1``, ``?2``, …); int, float, str, bytes and None.

    Args:
        dsn: A DSN accepted by `parse_dsn`.
        sql: The statement.
        params: Positional parameters.
        limits: Timeouts and result caps.
        allow_superuser: PostgreSQL only: run even when the connected role is a superuser or may run
            programs / read or write files on the database host (see the module docstring). Tests and
            deliberate operator choices only; a read-only transaction does not contain such a role.
        sqlite_dirs: SQLite only: directories the file must lie in (see `parse_dsn`).

    Returns:
        The columns and the rows read, with truncation flags.

    Raises:
        AgenticError: `invalid_dsn`; `sql_unavailable` when the database cannot be reached or opened (wrong
            host, credentials, database name or path); `sql_privileged_role` (see `allow_superuser`);
            `sql_read_only` when the statement tried to write, change the schema or escape the read-only
            session; `sql_timeout` past `limits.statement_timeout_s` (or a lock wait of that long);
            `sql_error` for any other error the database reports, with its message. No message contains
            the DSN's password.
    """
    kind, target = parse_dsn(dsn, sqlite_dirs=sqlite_dirs)
    bound = list(params) if params is not None else []
    if kind == "postgresql":
        return await _run_postgres(dsn, sql, bound, limits=limits, allow_superuser=allow_superuser)
    path = str(_check_sqlite_dir(target, sqlite_dirs)) if sqlite_dirs is not None else target
    return await _run_sqlite(path, sql, bound, limits)


# --- PostgreSQL -------------------------------------------------------------------------------------------


def _scrub(text: str, password: str | None) -> str:
    """Drop the password from a message, in case a driver ever echoes it."""
    return text.replace(password, "***") if password else text


def _pg_message(exc: Exception) -> str:
    """The server's message, with its detail and hint: they often say how to fix the query."""
    message = str(getattr(exc, "message", None) or exc)
    detail, hint = getattr(exc, "detail", None), getattr(exc, "hint", None)
    if detail:
        message += f" (detail: {detail})"
    if hint:
        message += f" (hint: {hint})"
    return message


def _pg_query_error(exc: asyncpg.PostgresError, password: str | None) -> AgenticError:
    state = str(getattr(exc, "sqlstate", "") or "")
    message = _scrub(_pg_message(exc), password)
    if state in _PG_TIMEOUT_STATES:
        code = "sql_timeout"
    elif state in _PG_READ_ONLY_STATES:
        code = "sql_read_only"
    elif state.startswith(_PG_UNAVAILABLE_PREFIXES):
        code = "sql_unavailable"
    else:
        code = "sql_error"
    return AgenticError(message, code=code, details={"sqlstate": state})


async def _run_postgres(
    dsn: str, sql: str, params: list[Any], *, limits: SqlLimits, allow_superuser: bool
) -> SqlResult:
    target = _parse_postgres(dsn)
    conn = await _pg_connect(dsn, target, limits)
    terminate = False
    try:
        await _pg_prepare_session(conn, target, limits, allow_superuser)
        try:
            async with asyncio.timeout(limits.statement_timeout_s + _CLIENT_GRACE_S):
                result = await _pg_fetch(conn, sql, params, limits)
            if not conn.is_in_transaction():
                # The statement itself ended our transaction (COMMIT, ROLLBACK, PREPARE TRANSACTION): the
                # server reports the session idle. Nothing was written (the transaction was read-only and
                # no second statement can follow), but transaction control is not the tool's business.
                raise AgenticError(
                    "transaction control statements are not allowed in a read-only query",
                    code="sql_read_only",
                )
            return result
        except TimeoutError:
            # The server did not enforce its own timeout in time (stalled network, a statement that
            # ignores cancellation): the connection is in an unknown state, so it is cut, not reused.
            terminate = True
            raise AgenticError(
                f"the query did not finish within {limits.statement_timeout_s:g} s", code="sql_timeout"
            ) from None
        except asyncpg.PostgresError as exc:
            raise _pg_query_error(exc, target.password) from exc
        except (asyncpg.exceptions.ConnectionDoesNotExistError, OSError) as exc:
            terminate = True
            raise AgenticError(
                _scrub(f"the connection to the database was lost: {exc}", target.password),
                code="sql_unavailable",
            ) from None
        except asyncpg.InterfaceError as exc:
            # Client-side refusals, e.g. a parameter of the wrong type ("invalid input for query argument").
            raise AgenticError(_scrub(str(exc), target.password), code="sql_error") from None
    except asyncio.CancelledError:
        terminate = True
        raise
    finally:
        await _pg_close(conn, terminate=terminate)


async def _pg_connect(dsn: str, target: _PgTarget, limits: SqlLimits) -> Any:
    try:
        async with asyncio.timeout(limits.connect_timeout_s):
            return await asyncpg.connect(
                host=target.host,
                port=target.port,
                user=target.user,
                # Never None: asyncpg would then read PGPASSWORD or ~/.pgpass, the platform's secrets.
                password=target.password if target.password is not None else "",
                database=target.database,
                ssl=target.sslmode,
                direct_tls=False,
                timeout=limits.connect_timeout_s,
                server_settings={"application_name": APPLICATION_NAME},
            )
    except TimeoutError:
        detail = f"no answer within {limits.connect_timeout_s:g} s"
    # Anything the driver raises while connecting (refused, DNS, TLS, authentication, unknown database,
    # too many connections) means the same to the caller: this database cannot be used right now.
    except Exception as exc:
        detail = str(exc) or type(exc).__name__
    raise AgenticError(
        _scrub(f"cannot connect to {redact_dsn(dsn)}: {detail}", target.password), code="sql_unavailable"
    )


async def _pg_prepare_session(conn: Any, target: _PgTarget, limits: SqlLimits, allow_superuser: bool) -> None:
    """Open the read-only transaction with its timeouts, and check the role's privileges."""
    timeout_ms = max(1, round(limits.statement_timeout_s * 1000))
    # The session cannot legitimately sit idle inside the transaction for longer than our whole budget; if
    # the platform dies mid-query the server ends the session itself.
    idle_ms = round((limits.statement_timeout_s + _CLIENT_GRACE_S + _CLOSE_TIMEOUT_S) * 1000)
    settings = [
        f"SET LOCAL statement_timeout = {timeout_ms}",
        f"SET LOCAL lock_timeout = {timeout_ms}",
        f"SET LOCAL idle_in_transaction_session_timeout = {idle_ms}",
    ]
    if conn.get_server_version().major >= _PG_CONNECTION_CHECK_SINCE:
        # When we give up on a query (caller cancelled, client-side deadline) we drop the socket; without
        # this the server would only notice when the statement ends, up to statement_timeout later.
        settings.append(f"SET LOCAL client_connection_check_interval = {_PG_CONNECTION_CHECK_MS}")
    try:
        async with asyncio.timeout(limits.connect_timeout_s):
            # Our own constant SQL (integers only), so the multi-statement simple protocol is fine here.
            await conn.execute("; ".join(["BEGIN TRANSACTION READ ONLY", *settings]))
            # Also takes the transaction's snapshot, which locks READ ONLY in (see the module docstring).
            privileges = await conn.fetchrow(_PG_PRIVILEGE_QUERY)
    except TimeoutError:
        raise AgenticError(
            f"the database did not start a read-only transaction within {limits.connect_timeout_s:g} s",
            code="sql_unavailable",
        ) from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise AgenticError(
            _scrub(f"cannot start a read-only transaction: {exc}", target.password), code="sql_unavailable"
        ) from None
    if allow_superuser:
        return
    dangerous = (["superuser"] if privileges["superuser"] else []) + list(privileges["roles"])
    if dangerous:
        raise AgenticError(
            f"the connection's role {target.user!r} is too privileged for agent queries "
            f"({', '.join(dangerous)}: it could run programs or read files on the database server); "
            "register the connection with a least-privilege role that only has SELECT",
            code="sql_privileged_role",
        )


async def _pg_fetch(conn: Any, sql: str, params: list[Any], limits: SqlLimits) -> SqlResult:
    # prepare = one Parse message = one statement; the portal (cursor) is read in batches, so at most
    # max_rows + 1 rows are ever transferred.
    statement = await conn.prepare(sql)
    attributes = statement.get_attributes()
    columns = [str(attribute.name) for attribute in attributes]
    json_columns = [
        index
        for index, attribute in enumerate(attributes)
        if attribute.type.name in _PG_JSON_TYPES or attribute.type.name in _PG_JSON_ARRAY_TYPES
    ]
    cursor = await statement.cursor(*params)
    collector = _Collector(limits)
    fetched = 0
    while True:
        wanted = min(_BATCH_ROWS, limits.max_rows + 1 - fetched)
        batch = await cursor.fetch(wanted)
        fetched += len(batch)
        for record in batch:
            values = list(record)
            for index in json_columns:
                values[index] = _decode_json(values[index])
            if not collector.add([_jsonable(value) for value in values]):
                return collector.result(columns)
        if len(batch) < wanted:
            return collector.result(columns)


async def _pg_close(conn: Any, *, terminate: bool) -> None:
    """Roll back and close under a timeout; cut the connection when that fails or is not safe."""
    if terminate:
        conn.terminate()
        return
    try:
        async with asyncio.timeout(_CLOSE_TIMEOUT_S):
            # Nothing can have been written, but an explicit ROLLBACK ends the transaction cleanly even if
            # the server is behind a pooler that keeps the server connection after our close.
            await conn.execute("ROLLBACK")
            await conn.close(timeout=_CLOSE_TIMEOUT_S)
    except asyncio.CancelledError:
        conn.terminate()
        raise
    except Exception:  # closing must never mask the query's own result or error
        conn.terminate()


# --- SQLite -----------------------------------------------------------------------------------------------


class _SqliteGuard:
    """Authorizer and progress handler of one SQLite connection."""

    def __init__(self, deadline: float, cancel: threading.Event) -> None:
        self.deadline = deadline
        self.cancel = cancel
        self.denials: list[str] = []
        self.interrupted = False

    def authorize(
        self, action: int, arg1: str | None, arg2: str | None, database: str | None, trigger: str | None
    ) -> int:
        """Allow reading only; remember denials so the error can say what was refused."""
        if action in _SQLITE_ALLOWED_ACTIONS:
            if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _SQLITE_DENIED_FUNCTIONS:
                return self._deny(f"function {arg2}()")
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in _SQLITE_PRAGMAS_WITH_ARG or (name in _SQLITE_PRAGMAS_READ and arg2 is None):
                return sqlite3.SQLITE_OK
            return self._deny(f"PRAGMA {arg1}" + (f" = {arg2}" if arg2 is not None else ""))
        what = _SQLITE_ACTION_NAMES.get(action, f"action {action}").replace("_", " ")
        return self._deny(f"{what} {arg1}" if arg1 else what)

    def _deny(self, what: str) -> int:
        self.denials.append(what)
        return sqlite3.SQLITE_DENY

    @property
    def denied(self) -> str | None:
        """What was refused, for the message (None when nothing was)."""
        if not self.denials:
            return None
        first = self.denials[0]
        # SQLite checks CREATE/DROP/ALTER first as a write to its schema table, and stops at that denial.
        if first.endswith(("sqlite_master", "sqlite_temp_master")):
            return f"a schema change ({first})"
        return first

    def progress(self) -> int:
        """Called every few VM steps: a non-zero answer interrupts the statement (SQLITE_INTERRUPT)."""
        if self.cancel.is_set() or time.monotonic() > self.deadline:
            self.interrupted = True
            return 1
        return 0


def _sqlite_timeout(limits: SqlLimits) -> AgenticError:
    return AgenticError(
        f"the query did not finish within {limits.statement_timeout_s:g} s", code="sql_timeout"
    )


def _sqlite_error(exc: Exception, guard: _SqliteGuard, limits: SqlLimits) -> AgenticError:
    name = str(getattr(exc, "sqlite_errorname", ""))
    if guard.interrupted or name == "SQLITE_INTERRUPT":
        return _sqlite_timeout(limits)
    if guard.denied is not None:
        return AgenticError(f"not allowed in a read-only query: {guard.denied}", code="sql_read_only")
    if name.startswith(("SQLITE_READONLY", "SQLITE_AUTH")):
        return AgenticError(str(exc), code="sql_read_only")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return AgenticError(f"{exc} (waited {limits.statement_timeout_s:g} s)", code="sql_timeout")
    return AgenticError(str(exc), code="sql_error")


def _sqlite_open(path: str, limits: SqlLimits, guard: _SqliteGuard) -> sqlite3.Connection:
    """Open read-only and lock the connection down; failures here mean the file cannot be used."""
    # mode=ro: SQLite opens the file read-only and never creates it. quote() keeps '?', '#' and '%' in
    # the file name from being read as URI syntax.
    uri = f"file:{quote(path)}?mode=ro"
    try:
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=limits.statement_timeout_s,  # busy timeout: waiting for a writer's lock
            isolation_level=None,  # no implicit BEGIN from the sqlite3 module
            cached_statements=0,
        )
    except sqlite3.Error as exc:
        raise AgenticError(f"cannot open SQLite database {path}: {exc}", code="sql_unavailable") from None
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA trusted_schema = OFF")
        # Reading the schema makes a file that is not a database (or is corrupt) fail here, as unavailable.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(limits.max_bytes * _SQLITE_LENGTH_FACTOR, 1_000_000))
        if hasattr(conn, "enable_load_extension"):
            conn.enable_load_extension(False)
        conn.set_authorizer(guard.authorize)
        conn.set_progress_handler(guard.progress, _SQLITE_PROGRESS_STEPS)
    except sqlite3.Error as exc:
        conn.close()
        raise AgenticError(f"cannot open SQLite database {path}: {exc}", code="sql_unavailable") from None
    return conn


def _sqlite_execute(
    path: str, sql: str, params: list[Any], limits: SqlLimits, cancel: threading.Event
) -> SqlResult:
    """The whole SQLite call, run in a worker thread (sqlite3 blocks)."""
    if cancel.is_set():  # the caller gave up while this job waited for a thread
        raise _sqlite_timeout(limits)
    guard = _SqliteGuard(time.monotonic() + limits.statement_timeout_s, cancel)
    conn = _sqlite_open(path, limits, guard)
    try:
        collector = _Collector(limits)
        try:
            # execute() compiles one statement and refuses a non-empty tail: no second statement runs.
            cursor = conn.execute(sql, params)
            columns = [str(column[0]) for column in cursor.description or ()]
            done = False
            while not done:
                batch = cursor.fetchmany(_BATCH_ROWS)
                for row in batch:
                    if not collector.add([_jsonable(value) for value in row]):
                        done = True
                        break
                done = done or len(batch) < _BATCH_ROWS
        except (sqlite3.Error, sqlite3.Warning) as exc:
            raise _sqlite_error(exc, guard, limits) from None
        except (ValueError, TypeError, OverflowError) as exc:
            # Parameters sqlite3 cannot bind (a dict, an int beyond 64 bits) or a NUL in the SQL text.
            raise AgenticError(str(exc), code="sql_error") from None
        return collector.result(columns)
    finally:
        conn.close()


async def _run_sqlite(path: str, sql: str, params: list[Any], limits: SqlLimits) -> SqlResult:
    cancel = threading.Event()
    try:
        # The thread enforces the statement timeout itself; this outer deadline only covers a thread that
        # is stuck outside the VM (a slow filesystem) or never got scheduled.
        async with asyncio.timeout(limits.connect_timeout_s + limits.statement_timeout_s + _CLIENT_GRACE_S):
            return await asyncio.to_thread(_sqlite_execute, path, sql, params, limits, cancel)
    except TimeoutError:
        raise _sqlite_timeout(limits) from None
    finally:
        # Whatever happened to the caller (timeout, cancellation), the worker stops at its next VM step.
        cancel.set()
