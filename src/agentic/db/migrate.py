"""Alembic, driven from Python so the CLI, the server and the tests share one code path."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator, TypeEngine

from agentic.db.models import Base


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(files("agentic.db") / "migrations"))
    return cfg


def compare_type(
    context: MigrationContext,
    inspected_column: Column[Any],
    metadata_column: Column[Any],
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """Compare our portable TypeDecorators by what they become on this dialect (e.g. JSONB on PostgreSQL)."""
    if isinstance(metadata_type, TypeDecorator):
        impl = metadata_type.load_dialect_impl(context.dialect)
        return bool(context.impl.compare_type(inspected_column, Column(metadata_column.name, impl)))
    return None


def configure_context(connection: Connection, **kwargs: Any) -> dict[str, Any]:
    """Options for `context.configure` used by env.py and by the drift check."""
    return {
        "connection": connection,
        "target_metadata": Base.metadata,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        "render_as_batch": connection.dialect.name == "sqlite",
        "compare_type": compare_type,
        "compare_server_default": False,
        **kwargs,
    }


def _with_sqlite_fk_off(connection: Connection, fn: Callable[[], None]) -> None:
    """Run migrations on SQLite with foreign keys off.

    Batch mode copies a table and drops the original; with enforcement on, that DROP would cascade
    deletes into child tables. Enforcement is restored afterwards and the result checked.
    """
    if connection.dialect.name != "sqlite":
        fn()
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        fn()
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        raise RuntimeError(f"migration left foreign key violations: {violations[:5]}")


def _run(connection: Connection, action: Callable[[Config], None]) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    # PRAGMA foreign_keys is a no-op inside a transaction, so commit whatever SQLAlchemy autobegan first.
    if connection.in_transaction():
        connection.commit()
    _with_sqlite_fk_off(connection, lambda: action(cfg))
    if connection.in_transaction():
        connection.commit()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database up to `revision`."""
    async with engine.connect() as conn:
        await conn.run_sync(_run, lambda cfg: command.upgrade(cfg, revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Migrate the database down to `revision` (`base` removes every table)."""
    async with engine.connect() as conn:
        await conn.run_sync(_run, lambda cfg: command.downgrade(cfg, revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""

    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    """The newest revision shipped with this version of the code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def pending_revisions(engine: AsyncEngine) -> list[str]:
    """Revisions between the database's current one and head, oldest first."""
    current = await current_revision(engine)
    script = ScriptDirectory.from_config(alembic_config())
    revisions = [rev.revision for rev in script.iterate_revisions("head", current)]
    return list(reversed(revisions))


async def schema_drift(engine: AsyncEngine) -> list[Any]:
    """Differences between the models and the migrated database (empty when they agree)."""

    def _diff(connection: Connection) -> list[Any]:
        ctx = MigrationContext.configure(
            connection=connection,
            opts={"compare_type": compare_type, "target_metadata": Base.metadata},
        )
        return list(compare_metadata(ctx, Base.metadata))

    async with engine.connect() as conn:
        return await conn.run_sync(_diff)


def autogenerate_revision(connection: Connection, message: str) -> None:
    """Write a new autogenerated revision file (for developers; review it before committing)."""
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.revision(cfg, message=message, autogenerate=True)
