"""Fault injection in PostgreSQL: make one chosen write fail, once (or a few times), from inside the server.

A trigger on the written table raises when its `WHEN` condition matches the row being written, so the failure
reaches the platform exactly as a real one does: an error from the driver, the transaction rolled back. "Once"
is counted with a sequence, because `nextval` is not undone by the rollback the error causes (a counter in a
table would be rolled back with the failed write, and the fault would fire forever).

Works for any process connected to the database (an in-process engine or a real `agentic serve`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


@dataclass(frozen=True, slots=True)
class Fault:
    """Where a fault strikes: `table`, `event` (`INSERT`/`UPDATE`), and the row condition (SQL on NEW/OLD)."""

    name: str
    table: str
    event: str
    when: str
    times: int = 1
    # XX000 (internal_error) is an error the platform must not mistake for a passing fault; 57P01
    # (admin_shutdown, what `pg_terminate_backend` sends) is one: the session is gone, try again.
    sqlstate: str = "XX000"

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or not _NAME.match(self.table):
            raise ValueError(f"unsafe identifier in {self!r}")
        if not re.fullmatch(r"[0-9A-Z]{5}", self.sqlstate):
            raise ValueError(f"not a SQLSTATE: {self.sqlstate!r}")
        if self.event not in ("INSERT", "UPDATE", "DELETE"):
            raise ValueError(f"unknown trigger event {self.event!r}")


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def install(database_url: str, fault: Fault) -> None:
    """Arm `fault`: the first `fault.times` matching writes fail, later ones pass."""
    conn = await asyncpg.connect(_dsn(database_url), timeout=10)
    try:
        await conn.execute(
            f"""
            CREATE SEQUENCE fault_{fault.name};
            CREATE FUNCTION fault_{fault.name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('fault_{fault.name}') <= {int(fault.times)} THEN
                    RAISE EXCEPTION 'injected fault: {fault.name}' USING ERRCODE = '{fault.sqlstate}';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER fault_{fault.name} BEFORE {fault.event} ON {fault.table}
                FOR EACH ROW WHEN ({fault.when}) EXECUTE FUNCTION fault_{fault.name}();
            """
        )
    finally:
        await conn.close()


async def fired(database_url: str, fault: Fault) -> int:
    """How many writes matched the fault so far (failed ones and, past `times`, passed ones)."""
    conn = await asyncpg.connect(_dsn(database_url), timeout=10)
    try:
        # The name was checked against `_NAME` when the fault was made: no injection through it.
        row = await conn.fetchrow(f"SELECT last_value, is_called FROM fault_{fault.name}")  # noqa: S608
    finally:
        await conn.close()
    assert row is not None
    return int(row["last_value"]) if row["is_called"] else 0


async def remove(database_url: str, fault: Fault) -> None:
    """Disarm `fault` (its count stays readable with `fired`)."""
    conn = await asyncpg.connect(_dsn(database_url), timeout=10)
    try:
        await conn.execute(
            f"""
            DROP TRIGGER IF EXISTS fault_{fault.name} ON {fault.table};
            DROP FUNCTION IF EXISTS fault_{fault.name}();
            """
        )
    finally:
        await conn.close()
