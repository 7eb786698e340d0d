"""Shared set-up for engine tests: an organisation with one agent and its first version."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.db.models import Agent, AgentVersion, Organization


async def seed_agent(
    sessions: async_sessionmaker[AsyncSession], *, slug: str = "engine"
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Create an organisation, an agent and its version 1 (empty config); their IDs."""
    async with sessions() as session:
        org = Organization(name=slug.title(), slug=slug, settings={})
        session.add(org)
        await session.flush()
        agent = Agent(org_id=org.id, name="runner")
        session.add(agent)
        await session.flush()
        version = AgentVersion(org_id=org.id, agent_id=agent.id, version=1, config={})
        session.add(version)
        await session.commit()
        return org.id, agent.id, version.id
