"""One migration tree, both backends: full round trip, and models/migrations agreement."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from agentic.config import Settings
from agentic.db import migrate
from agentic.db.engine import create_engine
from agentic.db.models import Base


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


@pytest.fixture
async def engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(Settings(), url=empty_database_url)
    yield eng
    await eng.dispose()


async def test_upgrade_downgrade_upgrade_round_trip(engine: AsyncEngine) -> None:
    model_tables = set(Base.metadata.tables)

    await migrate.upgrade(engine)
    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert model_tables <= await _tables(engine)

    await migrate.downgrade(engine, "base")
    assert await migrate.current_revision(engine) is None
    assert (await _tables(engine)) - {"alembic_version"} == set()

    await migrate.upgrade(engine)
    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert model_tables <= await _tables(engine)


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    await migrate.upgrade(engine)
    assert await migrate.schema_drift(engine) == []


async def test_drift_check_notices_a_difference(engine: AsyncEngine) -> None:
    """Guards the guard: an out-of-band column must show up as drift."""
    await migrate.upgrade(engine)
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE users ADD COLUMN nickname VARCHAR(20)"))
    drift = await migrate.schema_drift(engine)
    assert any(diff[0] == "remove_column" and diff[3].name == "nickname" for diff in drift)


async def test_pending_revisions_lists_what_upgrade_would_apply(engine: AsyncEngine) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    every_revision = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert await migrate.pending_revisions(engine) == every_revision
    assert every_revision[-1] == migrate.head_revision()
    await migrate.upgrade(engine)
    assert await migrate.pending_revisions(engine) == []


def test_single_head() -> None:
    from alembic.script import ScriptDirectory

    assert len(ScriptDirectory.from_config(migrate.alembic_config()).get_heads()) == 1
