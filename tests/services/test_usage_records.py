"""Usage rows are what cost budgets and invoices are made of: a passing database fault must not lose one."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agentic.db.engine import create_engine, create_session_factory
from agentic.db.models import UsageRecord
from agentic.llm.gateway import CallContext, UsageEntry
from agentic.services.llm import DatabaseUsage
from tests.conftest import make_settings
from tests.support import faults
from tests.support.engine import seed_agent
from tests.support.faults import Fault

pytestmark = pytest.mark.postgres


async def test_a_usage_row_survives_a_dropped_connection(tmp_path: Path, postgres_database_url: str) -> None:
    engine = create_engine(make_settings(tmp_path, postgres_database_url))
    sessions = create_session_factory(engine)
    try:
        org_id, agent_id, _version = await seed_agent(sessions)
        # The server ends the session under the insert, as `pg_terminate_backend` does.
        fault = Fault("usage_insert", "usage_records", "INSERT", "true", sqlstate="57P01")
        await faults.install(postgres_database_url, fault)
        entry = UsageEntry(
            context=CallContext(org_id=org_id, agent_id=agent_id),
            provider="openai",
            model="gpt-test",
            input_tokens=11,
            output_tokens=4,
            cached_tokens=0,
            cost_usd=Decimal("0.25"),
            latency_ms=12,
            outcome="ok",
        )
        await DatabaseUsage(sessions)(entry)
        assert await faults.fired(postgres_database_url, fault) == 2  # failed once, then written
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(UsageRecord)) == 1
    finally:
        await engine.dispose()
