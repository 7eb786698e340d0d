"""The `sql_query` tool's engine (`agentic.tools.sql`): read-only, bounded queries on PostgreSQL and SQLite.

Tests shared by both backends use the `db` fixture (ids `sqlite` / `postgresql`). On PostgreSQL every test
gets its own schema and its own login role in a database created for this module; the role is granted
*every* privilege on the test table (INSERT, UPDATE, DELETE, TRUNCATE, CREATE on the schema), so a refused
write proves the read-only transaction refused it, not a missing grant. Superuser behaviour is tested with
the server's admin account and `allow_superuser=True`. On SQLite every test gets its own file.
"""

# Tests build SQL around per-test schema/table names (never around input): that is what S608 flags.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from agentic.errors import AgenticError
from agentic.ids import new_id
from agentic.tools.sql import SqlLimits, SqlResult, parse_dsn, redact_dsn, run_query
from tests.support import services

ROWS = [(1, "alpha"), (2, "beta"), (3, "gamma")]
# Counts to a billion: minutes of work, so only the timeout can end it (both backends run it).
ENDLESS_CTE = (
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000)"
    " SELECT count(*) FROM c"
)
# 100 000 rows, produced lazily on both backends.
MANY_ROWS = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 100000) SELECT n FROM c"


@dataclass
class Db:
    """One backend's database for a test: a DSN to query, and out-of-band access to check the data."""

    backend: str
    dsn: str
    table: str  # the test table, qualified as the queries must name it
    rows: Callable[[], Awaitable[list[tuple[Any, ...]]]]  # the table's content, read out-of-band
    tables: Callable[[], Awaitable[set[str]]]  # the tables that exist, read out-of-band
    run_kwargs: dict[str, Any] = field(default_factory=dict)

    def param(self, n: int) -> str:
        """The backend's placeholder for the n-th parameter."""
        return f"${n}" if self.backend == "postgresql" else "?"

    async def run(self, sql: str, **kwargs: Any) -> SqlResult:
        return await run_query(self.dsn, sql, **{**self.run_kwargs, **kwargs})

    async def refused(self, sql: str, **kwargs: Any) -> AgenticError:
        with pytest.raises(AgenticError) as caught:
            await self.run(sql, **kwargs)
        return caught.value


async def refused(dsn: str, sql: str = "SELECT 1", **kwargs: Any) -> AgenticError:
    with pytest.raises(AgenticError) as caught:
        await run_query(dsn, sql, **kwargs)
    return caught.value


# --- PostgreSQL fixtures ----------------------------------------------------------------------------------


def _with(url: str, **parts: Any) -> str:
    """`url` with some parts replaced (user, password, database, port), as a plain postgresql:// DSN."""
    return make_url(url).set(drivername="postgresql", **parts).render_as_string(hide_password=False)


@dataclass
class Pg:
    """The module's PostgreSQL database: its admin DSN (a superuser on the test server)."""

    admin_dsn: str

    async def admin(self, *statements: str) -> None:
        conn = await asyncpg.connect(self.admin_dsn, timeout=10)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def fetch(self, sql: str) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.admin_dsn, timeout=10)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()


@pytest.fixture(scope="module")
async def pg(postgres_service: services.Service | None) -> AsyncIterator[Pg]:
    """A database of this module's own on the session's PostgreSQL server, dropped afterwards."""
    if postgres_service is None:
        pytest.skip("PostgreSQL unavailable")
    server = _with(postgres_service.url)
    name = f"agentic_sqltool_{new_id().hex}"
    conn = await asyncpg.connect(server, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield Pg(_with(postgres_service.url, database=name))
    finally:
        conn = await asyncpg.connect(server, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@dataclass
class PgSchema:
    """A schema with the test table and a login role of this test's own."""

    pg: Pg
    schema: str
    role: str
    dsn: str  # the role's DSN: least privilege in server terms (no superuser), all rights on the table


@pytest.fixture
async def pg_schema(pg: Pg) -> AsyncIterator[PgSchema]:
    """Per-test schema + role, dropped afterwards (parallel-safe: unique names)."""
    suffix = new_id().hex[:16]
    schema, role, password = f"s_{suffix}", f"r_{suffix}", f"pw-{suffix}"
    values = ", ".join(f"({i}, '{name}')" for i, name in ROWS)
    await pg.admin(
        f"CREATE SCHEMA {schema}",
        f"CREATE TABLE {schema}.items (id int PRIMARY KEY, name text NOT NULL)",
        f"INSERT INTO {schema}.items VALUES {values}",
        f"CREATE ROLE {role} LOGIN PASSWORD '{password}'",
        # Every privilege a write needs: only the read-only transaction stands in the way.
        f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}",
        f"GRANT ALL ON ALL TABLES IN SCHEMA {schema} TO {role}",
    )
    try:
        yield PgSchema(pg, schema, role, _with(pg.admin_dsn, username=role, password=password))
    finally:
        await pg.admin(f"DROP SCHEMA {schema} CASCADE", f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def _pg_db(pg_schema: PgSchema) -> Db:
    pg, schema = pg_schema.pg, pg_schema.schema

    async def rows() -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await pg.fetch(f"SELECT id, name FROM {schema}.items ORDER BY id")]

    async def tables() -> set[str]:
        found = await pg.fetch(f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}'")
        return {r["tablename"] for r in found}

    return Db("postgresql", pg_schema.dsn, f"{schema}.items", rows, tables)


# --- SQLite fixtures --------------------------------------------------------------------------------------


def _sqlite_file(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        conn.execute("CREATE INDEX items_name ON items (name)")  # so REINDEX has something to rebuild
        conn.executemany("INSERT INTO items VALUES (?, ?)", ROWS)
    conn.close()
    return path


def _sqlite_db(path: Path) -> Db:
    async def rows() -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as conn:
            found = conn.execute("SELECT id, name FROM items ORDER BY id").fetchall()
        conn.close()
        return found

    async def tables() -> set[str]:
        with sqlite3.connect(path) as conn:
            found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        conn.close()
        return found

    return Db("sqlite", f"sqlite:///{path}", "items", rows, tables)


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A SQLite file with the test table."""
    return _sqlite_file(tmp_path / "data.db")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    """The test table on each backend."""
    if request.param == "sqlite":
        return _sqlite_db(_sqlite_file(tmp_path / "data.db"))
    return _pg_db(request.getfixturevalue("pg_schema"))


# --- reading, on both backends ----------------------------------------------------------------------------


async def test_select_returns_columns_and_rows(db: Db) -> None:
    result = await db.run(f"SELECT id, name FROM {db.table} ORDER BY id")
    assert result == SqlResult(
        columns=["id", "name"],
        rows=[list(r) for r in ROWS],
        row_count=3,
        truncated=False,
        truncated_reason=None,
    )


async def test_empty_result_keeps_its_columns(db: Db) -> None:
    result = await db.run(f"SELECT id, name AS label FROM {db.table} WHERE id < 0")
    assert (result.columns, result.rows, result.row_count, result.truncated) == (
        ["id", "label"],
        [],
        0,
        False,
    )


async def test_parameters_are_bound_in_the_backends_paramstyle(db: Db) -> None:
    sql = f"SELECT name FROM {db.table} WHERE id = {db.param(1)} OR name = {db.param(2)} ORDER BY id"
    result = await db.run(sql, params=[1, "gamma"])
    assert result.rows == [["alpha"], ["gamma"]]
    # A value is data, never SQL.
    injected = await db.run(sql, params=[0, "x' OR '1'='1"])
    assert injected.rows == []


async def test_wrong_parameter_count_is_a_sql_error(db: Db) -> None:
    error = await db.refused(f"SELECT name FROM {db.table} WHERE id = {db.param(1)}", params=[])
    assert error.code == "sql_error"


async def test_database_errors_come_back_with_their_message(db: Db) -> None:
    error = await db.refused(f"SELECT no_such_column FROM {db.table}")
    assert error.code == "sql_error"
    assert "no_such_column" in error.message


# --- writes refused, data intact --------------------------------------------------------------------------

WRITES = {
    "insert": "INSERT INTO {t} (id, name) VALUES (99, 'mallory')",
    "update": "UPDATE {t} SET name = 'mallory'",
    "delete": "DELETE FROM {t}",
    "create_table": "CREATE TABLE {t}_copy (id int)",
    "create_index": "CREATE INDEX items_name_idx ON {t} (name)",
    "drop_table": "DROP TABLE {t}",
    "alter_table": "ALTER TABLE {t} ADD COLUMN extra int",
    "insert_returning": "INSERT INTO {t} (id, name) VALUES (98, 'x') RETURNING id",
    "upsert": "INSERT INTO {t} (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = 'mallory'",
}


@pytest.mark.parametrize("statement", WRITES.values(), ids=WRITES.keys())
async def test_writes_and_ddl_are_refused_and_data_stays(db: Db, statement: str) -> None:
    before = await db.tables()
    error = await db.refused(statement.format(t=db.table))
    assert error.code == "sql_read_only", error.message
    assert await db.rows() == ROWS
    assert await db.tables() == before


@pytest.mark.parametrize(
    "statement",
    ["SELECT 1; DELETE FROM {t}", "SELECT 1; DROP TABLE {t}", "COMMIT; DELETE FROM {t}"],
    ids=["select_then_delete", "select_then_drop", "commit_then_delete"],
)
async def test_a_second_statement_never_runs(db: Db, statement: str) -> None:
    error = await db.refused(statement.format(t=db.table))
    # PostgreSQL refuses the string as a whole (not one statement); SQLite already refuses a lone COMMIT.
    assert error.code in {"sql_error", "sql_read_only"}
    assert await db.rows() == ROWS
    assert "items" in {name.rpartition(".")[2] for name in await db.tables()}


async def test_temporary_tables_are_refused_too(db: Db) -> None:
    error = await db.refused("CREATE TEMP TABLE scratch (id int)")
    assert error.code == "sql_read_only"


# --- limits -----------------------------------------------------------------------------------------------


async def test_statement_timeout(db: Db) -> None:
    start = time.monotonic()
    error = await db.refused(ENDLESS_CTE, limits=SqlLimits(statement_timeout_s=0.5))
    assert error.code == "sql_timeout"
    assert time.monotonic() - start < 1.5


async def test_max_rows_stops_reading_early(db: Db) -> None:
    start = time.monotonic()
    result = await db.run(MANY_ROWS, limits=SqlLimits(max_rows=10))
    assert result.rows == [[n] for n in range(1, 11)]
    assert (result.row_count, result.truncated, result.truncated_reason) == (10, True, "max_rows")
    assert time.monotonic() - start < 1.0


async def test_exactly_max_rows_is_not_truncated(db: Db) -> None:
    result = await db.run(f"SELECT id FROM {db.table}", limits=SqlLimits(max_rows=3))
    assert (result.row_count, result.truncated, result.truncated_reason) == (3, False, None)


async def test_max_bytes_stops_before_the_row_that_would_exceed(db: Db) -> None:
    wide = (
        "SELECT n, substr(hex(zeroblob(500)), 1, 1000) AS pad FROM (WITH RECURSIVE c(n) AS"
        " (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000) SELECT n FROM c) AS s"
        if db.backend == "sqlite"
        else "SELECT n, repeat('0', 1000) AS pad FROM generate_series(1, 1000) AS n"
    )
    result = await db.run(wide, limits=SqlLimits(max_bytes=10_000))
    assert (result.truncated, result.truncated_reason) == (True, "max_bytes")
    assert 1 <= result.row_count < 10
    encoded = json.dumps(result.rows, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(encoded) <= 10_000
    assert 10_000 - len(encoded) < 1020  # one more row would not have fitted
    assert [row[0] for row in result.rows] == list(range(1, result.row_count + 1))


async def test_nonexistent_table_is_a_sql_error_not_unavailable(db: Db) -> None:
    error = await db.refused("SELECT * FROM no_such_table")
    assert error.code == "sql_error"


# --- PostgreSQL specifics ---------------------------------------------------------------------------------

pg_only = pytest.mark.postgres


@pg_only
async def test_pg_type_conversions(pg_schema: PgSchema) -> None:
    some_uuid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    result = await run_query(
        pg_schema.dsn,
        "SELECT DATE '2024-02-29' AS d, TIMESTAMPTZ '2024-02-29 12:30:00+00' AS ts, TIME '08:15:00' AS t,"
        " 12.50::numeric(10, 2) AS price, 0.1::numeric + 0.2::numeric AS exact,"
        " $1::uuid AS u, '\\x00ff10'::bytea AS b, NULL::text AS nothing,"
        ' \'{"a": [1, 2.5, null], "b": {"c": true}}\'::jsonb AS doc, \'[1, "x"]\'::json AS arr,'
        " ARRAY['{\"k\": 1}'::jsonb] AS docs, ARRAY[1, 2, 3] AS ints, 'NaN'::float8 AS nan,"
        " 9223372036854775807::bigint AS big, true AS flag, '10.0.0.1'::inet AS ip,"
        " int4range(1, 5) AS r, INTERVAL '1 day 2 hours' AS span",
        params=[some_uuid],
    )
    assert result.columns == [
        "d", "ts", "t", "price", "exact", "u", "b", "nothing", "doc", "arr", "docs", "ints", "nan",
        "big", "flag", "ip", "r", "span",
    ]  # fmt: skip
    assert result.rows == [
        [
            "2024-02-29",
            "2024-02-29T12:30:00+00:00",
            "08:15:00",
            "12.50",
            "0.3",
            str(some_uuid),
            base64.b64encode(b"\x00\xff\x10").decode(),
            None,
            {"a": [1, 2.5, None], "b": {"c": True}},
            [1, "x"],
            [{"k": 1}],
            [1, 2, 3],
            "nan",
            9223372036854775807,
            True,
            "10.0.0.1",
            {"lower": 1, "upper": 5, "lower_inc": True, "upper_inc": False, "empty": False},
            "1 day, 2:00:00",
        ]
    ]
    json.dumps(result.rows, allow_nan=False)  # strictly valid JSON
    assert Decimal(result.rows[0][3]) == Decimal("12.50")


@pg_only
async def test_pg_paramstyle_is_dollar_numbered(pg_schema: PgSchema) -> None:
    table = f"{pg_schema.schema}.items"
    result = await run_query(
        pg_schema.dsn, f"SELECT name FROM {table} WHERE id = $2 OR id = $1", params=[1, 3]
    )
    assert sorted(result.rows) == [["alpha"], ["gamma"]]
    # A value of the wrong type for the inferred parameter type is refused by the driver, not coerced.
    error = await refused(pg_schema.dsn, f"SELECT name FROM {table} WHERE id = $1", params=["1"])
    assert error.code == "sql_error"
    # `?` is not a placeholder on PostgreSQL.
    error = await refused(pg_schema.dsn, f"SELECT name FROM {table} WHERE id = ?", params=[1])
    assert error.code == "sql_error"


@pg_only
@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ("SET TRANSACTION READ WRITE", "sql_read_only"),
        ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE", "sql_read_only"),
        ("SELECT set_config('transaction_read_only', 'off', false)", "sql_read_only"),
        ("DO $$ BEGIN COMMIT; DELETE FROM {t}; END $$", "sql_read_only"),
        ("DO $$ BEGIN DELETE FROM {t}; END $$", "sql_read_only"),
        ("SELECT nextval('{t}_seq')", "sql_error"),  # no such sequence, but either way nothing is written
        ("TRUNCATE {t}", "sql_read_only"),
        ("VACUUM {t}", "sql_read_only"),
        ("SELECT * FROM {t} FOR UPDATE", "sql_read_only"),
        ("WITH gone AS (DELETE FROM {t} RETURNING id) SELECT count(*) FROM gone", "sql_read_only"),
        ("SELECT * FROM {t}; COMMIT; DELETE FROM {t}", "sql_error"),
        ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "sql_read_only"),
        ("GRANT SELECT ON {t} TO PUBLIC", "sql_read_only"),
        ("COMMENT ON TABLE {t} IS 'x'", "sql_read_only"),
        ("COMMIT", "sql_read_only"),
        ("ROLLBACK", "sql_read_only"),
        ("END", "sql_read_only"),
    ],
)
async def test_pg_read_only_escapes_are_refused(pg_schema: PgSchema, statement: str, code: str) -> None:
    db = _pg_db(pg_schema)
    error = await db.refused(statement.format(t=db.table))
    assert error.code == code, error.message
    assert await db.rows() == ROWS


@pg_only
@pytest.mark.parametrize(
    "statement",
    [
        "SET default_transaction_read_only = off",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "RESET ALL",
    ],
)
async def test_pg_session_tricks_have_no_effect(pg_schema: PgSchema, statement: str) -> None:
    """Allowed as a statement, but one statement per connection: the next call starts read-only again."""
    db = _pg_db(pg_schema)
    await db.run(statement)
    error = await db.refused(f"DELETE FROM {db.table}")
    assert error.code == "sql_read_only"
    assert await db.rows() == ROWS


@pg_only
async def test_pg_superuser_is_refused_unless_allowed(pg_schema: PgSchema) -> None:
    admin = pg_schema.pg.admin_dsn
    is_super = (await pg_schema.pg.fetch("SELECT current_setting('is_superuser') = 'on' AS s"))[0]["s"]
    if not is_super:
        pytest.skip("the test server's admin account is not a superuser")
    error = await refused(admin)
    assert error.code == "sql_privileged_role"
    assert "superuser" in error.message
    assert (await run_query(admin, "SELECT 1 AS one", allow_superuser=True)).rows == [[1]]


@pg_only
async def test_pg_roles_that_reach_the_server_host_are_refused(pg_schema: PgSchema) -> None:
    await pg_schema.pg.admin(f"GRANT pg_read_server_files TO {pg_schema.role}")
    error = await refused(pg_schema.dsn)
    assert error.code == "sql_privileged_role"
    assert "pg_read_server_files" in error.message


@pg_only
async def test_pg_least_privilege_role_cannot_read_server_files(pg_schema: PgSchema) -> None:
    error = await refused(pg_schema.dsn, "SELECT pg_read_file('/etc/hostname')")
    assert (error.code, "permission denied" in error.message) == ("sql_error", True)
    error = await refused(pg_schema.dsn, "COPY (SELECT 1) TO PROGRAM 'true'")
    assert error.code == "sql_error"


@pg_only
@pytest.mark.parametrize("statement", ["DELETE FROM {t}", "DROP TABLE {t}", "CREATE TABLE {t}_copy (id int)"])
async def test_pg_read_only_binds_a_superuser_too(pg_schema: PgSchema, statement: str) -> None:
    db = _pg_db(pg_schema)
    error = await refused(pg_schema.pg.admin_dsn, statement.format(t=db.table), allow_superuser=True)
    assert error.code == "sql_read_only"
    assert await db.rows() == ROWS
    assert await db.tables() == {"items"}


@pg_only
async def test_pg_sleep_is_cut_at_the_statement_timeout(pg_schema: PgSchema) -> None:
    start = time.monotonic()
    error = await refused(pg_schema.dsn, "SELECT pg_sleep(5)", limits=SqlLimits(statement_timeout_s=0.5))
    assert error.code == "sql_timeout"
    assert time.monotonic() - start < 1.0


@pg_only
async def test_pg_timeout_cannot_be_lifted_from_inside_the_statement(pg_schema: PgSchema) -> None:
    start = time.monotonic()
    error = await refused(
        pg_schema.dsn,
        "SELECT set_config('statement_timeout', '0', true), pg_sleep(5)",
        limits=SqlLimits(statement_timeout_s=0.5),
    )
    assert error.code == "sql_timeout"
    assert time.monotonic() - start < 1.6  # the server's timeout, or at worst the client's backstop


@pg_only
async def test_pg_lock_wait_is_bounded(pg_schema: PgSchema) -> None:
    holder = await asyncpg.connect(pg_schema.pg.admin_dsn, timeout=10)
    try:
        await holder.execute(f"BEGIN; LOCK TABLE {pg_schema.schema}.items IN ACCESS EXCLUSIVE MODE")
        start = time.monotonic()
        error = await refused(
            pg_schema.dsn,
            f"SELECT * FROM {pg_schema.schema}.items",
            limits=SqlLimits(statement_timeout_s=0.5),
        )
        assert error.code == "sql_timeout"
        assert time.monotonic() - start < 1.0
    finally:
        await holder.execute("ROLLBACK")
        await holder.close()


@pg_only
async def test_pg_huge_result_streams(pg_schema: PgSchema) -> None:
    start = time.monotonic()
    result = await run_query(
        pg_schema.dsn, "SELECT * FROM generate_series(1, 100000) AS n", limits=SqlLimits(max_rows=10)
    )
    assert (result.rows, result.truncated_reason) == ([[n] for n in range(1, 11)], "max_rows")
    # A billion rows in the select list are produced one at a time: only max_rows + 1 are ever computed.
    result = await run_query(
        pg_schema.dsn,
        "SELECT generate_series(1, 1000000000) AS n",
        limits=SqlLimits(max_rows=10, statement_timeout_s=5),
    )
    assert (result.row_count, result.truncated_reason) == (10, "max_rows")
    assert time.monotonic() - start < 1.0


@pg_only
async def test_pg_cancelled_call_leaves_no_query_running(pg_schema: PgSchema) -> None:
    marker = f"cancel-{new_id().hex}"
    task = asyncio.create_task(
        run_query(pg_schema.dsn, f"SELECT pg_sleep(10), '{marker}'", limits=SqlLimits(statement_timeout_s=20))
    )
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    running = f"SELECT pid FROM pg_stat_activity WHERE query LIKE '%{marker}%' AND pid <> pg_backend_pid()"
    deadline = time.monotonic() + 3
    while await pg_schema.pg.fetch(running):
        assert time.monotonic() < deadline, "the server kept running the abandoned query"
        await asyncio.sleep(0.1)


@pg_only
async def test_pg_every_call_closes_its_connection(pg_schema: PgSchema) -> None:
    await run_query(pg_schema.dsn, "SELECT 1")
    for failing in (f"DELETE FROM {pg_schema.schema}.items", "SELECT 1/0", "SELECT pg_sleep(1)"):
        with pytest.raises(AgenticError):
            await run_query(pg_schema.dsn, failing, limits=SqlLimits(statement_timeout_s=0.2))
    sessions = await pg_schema.pg.fetch(
        f"SELECT pid FROM pg_stat_activity WHERE usename = '{pg_schema.role}'"
    )
    assert sessions == []


# --- PostgreSQL connection failures -----------------------------------------------------------------------


async def test_pg_closed_port_is_unavailable_quickly() -> None:
    port = services.free_port()
    start = time.monotonic()
    error = await refused(f"postgresql://reader:s3cret-pw@127.0.0.1:{port}/app")
    assert error.code == "sql_unavailable"
    assert "s3cret-pw" not in error.message
    assert time.monotonic() - start < 2


async def test_pg_connect_timeout_on_a_silent_server() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, never answer
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        start = time.monotonic()
        error = await refused(
            f"postgresql://reader:s3cret-pw@127.0.0.1:{port}/app", limits=SqlLimits(connect_timeout_s=0.5)
        )
        assert error.code == "sql_unavailable"
        assert "s3cret-pw" not in error.message
        assert time.monotonic() - start < 1.5
    finally:
        server.close()
        await server.wait_closed()


@pg_only
async def test_pg_wrong_credentials_or_database_are_unavailable_without_the_password(
    pg_schema: PgSchema,
) -> None:
    unknown_role = _with(
        pg_schema.pg.admin_dsn, username=f"nobody_{new_id().hex[:8]}", password="hunter2-secret"
    )
    unknown_db = _with(pg_schema.dsn, database=f"missing_{new_id().hex[:8]}")
    for dsn in (unknown_role, unknown_db):
        error = await refused(dsn)
        assert error.code == "sql_unavailable"
        password = make_url(dsn).password
        assert password
        assert password not in error.message
        assert "***" in error.message  # the DSN is shown redacted


@pg_only
async def test_pg_platform_environment_is_never_used(
    pg_schema: PgSchema, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A tenant DSN's gaps are not filled from the platform's PG* variables or ~/.pgpass."""
    url = make_url(pg_schema.dsn)
    monkeypatch.setenv("PGHOST", str(url.host))
    monkeypatch.setenv("PGPORT", str(url.port))
    monkeypatch.setenv("PGUSER", str(url.username))
    monkeypatch.setenv("PGDATABASE", str(url.database))
    monkeypatch.setenv("PGPASSWORD", "platform-secret")
    monkeypatch.setenv("PGSERVICE", "platform")
    error = await refused("postgresql:///")
    assert error.code == "invalid_dsn"
    error = await refused(f"postgresql://{url.host}:{url.port}/{url.database}")
    assert error.code == "invalid_dsn"


# --- SQLite specifics -------------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_sqlite_type_conversions(tmp_path: Path) -> None:
    path = tmp_path / "types.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n, d DATE, j TEXT)")
        conn.execute(
            "INSERT INTO t VALUES (?, ?, ?, ?, NULL, ?, json_object('a', 1))",
            (2**62, 1.5, "héllo", b"\x00\xff\x10", "2024-02-29"),
        )
        conn.execute("INSERT INTO t (r) VALUES (9e999)")  # +Infinity
    conn.close()
    result = await run_query(f"sqlite:///{path}", "SELECT i, r, s, b, n, d, j FROM t ORDER BY rowid")
    assert result.columns == ["i", "r", "s", "b", "n", "d", "j"]
    assert result.rows == [
        [2**62, 1.5, "héllo", base64.b64encode(b"\x00\xff\x10").decode(), None, "2024-02-29", '{"a":1}'],
        [None, "inf", None, None, None, None, None],
    ]
    json.dumps(result.rows, allow_nan=False)


async def test_sqlite_paramstyle_is_qmark(sqlite_path: Path) -> None:
    dsn = f"sqlite:///{sqlite_path}"
    result = await run_query(
        dsn, "SELECT name FROM items WHERE id = ?2 OR id = ?1 ORDER BY id", params=[1, 3]
    )
    assert result.rows == [["alpha"], ["gamma"]]
    result = await run_query(dsn, "SELECT name FROM items WHERE id = ?", params=[2])
    assert result.rows == [["beta"]]


@pytest.mark.parametrize(
    "statement",
    [
        "ATTACH DATABASE '{other}' AS other",
        "ATTACH DATABASE ':memory:' AS other",
        "VACUUM INTO '{other}'",
        "PRAGMA query_only = OFF",
        "PRAGMA query_only = 0",
        "PRAGMA writable_schema = ON",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA user_version = 7",
        "PRAGMA trusted_schema = ON",
        "SELECT load_extension('/tmp/evil')",
        "BEGIN IMMEDIATE",
        "SAVEPOINT s",
        "REINDEX",
        "ANALYZE",
        "CREATE VIEW v AS SELECT 1",
        "CREATE TRIGGER tr AFTER INSERT ON items BEGIN DELETE FROM items; END",
        "REPLACE INTO items VALUES (1, 'mallory')",
        "INSERT INTO items SELECT id + 10, name FROM items",
    ],
)
async def test_sqlite_escapes_are_refused(sqlite_path: Path, statement: str) -> None:
    other = sqlite_path.parent / "other.db"
    before = _digest(sqlite_path)
    error = await refused(f"sqlite:///{sqlite_path}", statement.format(other=other))
    assert error.code == "sql_read_only", error.message
    assert not other.exists()
    assert _digest(sqlite_path) == before
    # The session stayed read-only: a write in the next call is refused as well.
    assert (await refused(f"sqlite:///{sqlite_path}", "DELETE FROM items")).code == "sql_read_only"


async def test_sqlite_introspection_pragmas_work(sqlite_path: Path) -> None:
    dsn = f"sqlite:///{sqlite_path}"
    info = await run_query(dsn, "PRAGMA table_info(items)")
    assert [row[1] for row in info.rows] == ["id", "name"]
    assert (await run_query(dsn, "PRAGMA query_only")).rows == [[1]]
    schema = await run_query(dsn, "SELECT name FROM sqlite_master WHERE type = 'table'")
    assert schema.rows == [["items"]]


async def test_sqlite_nonexistent_file_is_unavailable_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    error = await refused(f"sqlite:///{missing}")
    assert error.code == "sql_unavailable"
    assert not missing.exists()


async def test_sqlite_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 100)
    error = await refused(f"sqlite:///{path}")
    assert error.code == "sql_unavailable"
    assert path.read_text() == "not a database\n" * 100


async def test_sqlite_huge_values_are_refused_not_allocated(sqlite_path: Path) -> None:
    error = await refused(f"sqlite:///{sqlite_path}", "SELECT randomblob(500000000)")
    assert error.code == "sql_error"
    assert "too big" in error.message


async def test_sqlite_cancelled_call_stops_the_worker(sqlite_path: Path) -> None:
    task = asyncio.create_task(
        run_query(f"sqlite:///{sqlite_path}", ENDLESS_CTE, limits=SqlLimits(statement_timeout_s=30))
    )
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The worker thread is interrupted at its next VM step: a writer gets the file right away.
    start = time.monotonic()
    with sqlite3.connect(sqlite_path, timeout=5) as conn:
        conn.execute("BEGIN EXCLUSIVE")
        conn.rollback()
    conn.close()
    assert time.monotonic() - start < 1.0


async def test_sqlite_dirs_confine_the_file(tmp_path: Path, sqlite_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    inside = _sqlite_file(allowed / "ok.db")
    link = allowed / "escape.db"
    link.symlink_to(sqlite_path)  # resolves outside the allowed directory
    dirs = [allowed]
    assert (await run_query(f"sqlite:///{inside}", "SELECT count(*) FROM items", sqlite_dirs=dirs)).rows == [
        [3]
    ]
    for path in (sqlite_path, link, allowed / ".." / "data.db"):
        error = await refused(f"sqlite:///{path}", sqlite_dirs=dirs)
        assert error.code == "invalid_dsn"
        with pytest.raises(AgenticError, match="outside"):
            parse_dsn(f"sqlite:///{path}", sqlite_dirs=dirs)


# --- DSNs -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dsn",
    [
        "mysql://root:pw@127.0.0.1/app",
        "http://127.0.0.1:5432/",
        "postgresql+asyncpg://u@h/db",
        "sqlite:///:memory:",
        "sqlite://",
        "sqlite:///",
        "sqlite:///relative/path.db",
        "sqlite:////tmp/x.db?mode=rwc",
        "sqlite:///file:/tmp/x.db",
        "postgresql:///db",
        "postgresql://127.0.0.1/db",
        "postgresql://u@h1,h2/db",
        "postgresql://u@%2Fvar%2Frun%2Fpostgresql/db",
        "postgresql://u@h/db?passfile=/etc/shadow",
        "postgresql://u@h/db?options=-c%20default_transaction_read_only%3Doff",
        "postgresql://u@h/db?sslmode=sometimes",
        "postgresql://u@h:notaport/db",
        "",
        "just some text",
    ],
)
async def test_invalid_dsns(dsn: str) -> None:
    with pytest.raises(AgenticError) as caught:
        parse_dsn(dsn)
    assert caught.value.code == "invalid_dsn"
    assert (await refused(dsn)).code == "invalid_dsn"


def test_invalid_dsn_message_never_echoes_the_password() -> None:
    for dsn in ("mysql://root:topsecret@db/app", "postgresql://u:topsecret@h/db?passfile=x"):
        with pytest.raises(AgenticError) as caught:
            parse_dsn(dsn)
        assert "topsecret" not in caught.value.message


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://u:p@h/db", ("postgresql", "postgresql://u:p@h/db")),
        (
            "postgres://u@h:6543/db?sslmode=require",
            ("postgresql", "postgresql://u@h:6543/db?sslmode=require"),
        ),
        ("postgresql://u@[::1]/db", ("postgresql", "postgresql://u@[::1]/db")),
        ("sqlite:////srv/data/app.db", ("sqlite", "/srv/data/app.db")),
    ],
)
def test_valid_dsns(dsn: str, expected: tuple[str, str]) -> None:
    assert parse_dsn(dsn) == expected


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (
            "postgresql://alice:s3cr%40t@db.example.com:5432/app",
            "postgresql://alice:***@db.example.com:5432/app",
        ),
        ("postgres://alice:p@ss:w@rd@db/app", "postgres://alice:***@db/app"),
        ("postgresql://alice@db/app", "postgresql://alice@db/app"),
        ("postgresql://alice:@db/app", "postgresql://alice:***@db/app"),
        ("postgresql://db/app?user=alice&password=s3cret", "postgresql://db/app?user=alice&password=***"),
        ("postgresql://alice:s3cret@[bad/app", "postgresql://alice:***@[bad/app"),
        ("sqlite:////srv/app.db", "sqlite:////srv/app.db"),
    ],
)
def test_redact_dsn_hides_the_password(dsn: str, expected: str) -> None:
    assert redact_dsn(dsn) == expected


def test_limits_are_validated() -> None:
    for bad in ({"max_rows": 0}, {"max_bytes": 0}, {"statement_timeout_s": 0}, {"connect_timeout_s": -1}):
        with pytest.raises(ValueError, match="must be"):
            SqlLimits(**bad)
