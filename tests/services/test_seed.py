import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Agent, AgentVersion, AuditEvent, Membership, Organization, Role, User
from agentic.security.passwords import verify_password
from agentic.services.seed import DEMO_AGENTS, DEMO_USERS, seed_demo

pytestmark = pytest.mark.usefixtures("backend")


async def test_seed_creates_org_users_per_role_and_versioned_agents(session: AsyncSession) -> None:
    progress: list[str] = []
    result = await seed_demo(session, password="demo-password-123", progress=progress.append)

    assert result.users == [email for email, _name, _role in DEMO_USERS]
    assert result.agents == [name for name, _desc, _config in DEMO_AGENTS]
    assert len(progress) == 1 + len(DEMO_USERS) + len(DEMO_AGENTS)

    org = await session.scalar(select(Organization).where(Organization.slug == "demo"))
    assert org is not None
    statement = select(User.email, Membership.role).join(Membership, Membership.user_id == User.id)
    roles = dict((await session.execute(statement)).all())
    assert roles == {email: role for email, _name, role in DEMO_USERS}
    assert Role.OPERATOR in roles.values()

    versions = (await session.scalars(select(AgentVersion))).all()
    assert {v.version for v in versions} == {1}
    assert all(v.config["model"]["provider"] == "mock" for v in versions)
    admin = await session.scalar(select(User).where(User.email == DEMO_USERS[0][0]))
    assert admin is not None
    assert admin.password_hash is not None
    assert await verify_password(admin.password_hash, "demo-password-123")
    assert not await verify_password(admin.password_hash, "wrong")
    assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 1


async def test_seed_twice_changes_nothing(session: AsyncSession) -> None:
    await seed_demo(session, password="demo-password-123")
    again = await seed_demo(session, password="demo-password-123")
    assert again.already_present
    assert again.users == []
    assert await session.scalar(select(func.count()).select_from(Agent)) == len(DEMO_AGENTS)
    assert await session.scalar(select(func.count()).select_from(User)) == len(DEMO_USERS)
