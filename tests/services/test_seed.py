import datetime as dt
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.api.app import create_app
from agentic.config import Settings, WorkerSettings
from agentic.db.models import Agent, AgentVersion, AuditEvent, Membership, Organization, Role, User
from agentic.resources import Resources
from agentic.security.passwords import verify_password
from agentic.services.auth import RequestMeta, open_session
from agentic.services.seed import DEMO_AGENTS, DEMO_USERS, seed_demo
from tests.api.test_tasks import _wait
from tests.conftest import asgi_client

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


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    """The app with in-process workers, as `agentic serve` runs them."""
    # The sandbox runs as an unprivileged uid: its workspace must be reachable (pytest's tmp dirs are 0700).
    settings.data_dir = Path(tempfile.mkdtemp(prefix="agentic-seed-"))
    settings.data_dir.chmod(0o711)
    settings.worker = WorkerSettings(
        in_process=True, poll_interval_s=0.02, concurrency=4, reap_interval_s=0.2
    )
    app = create_app(settings, run_workers=True)
    try:
        async with LifespanManager(app), asgi_client(app) as client:
            yield client, app.state.resources
    finally:
        shutil.rmtree(settings.data_dir, ignore_errors=True)


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="the python tool needs bubblewrap")
async def test_the_scripted_researcher_runs_the_tool_it_calls(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    # The demo agent's script calls a tool: the agent must be given it, and the run must really use it (a call
    # to a tool the agent lacks is refused, yet the script's final answer still "succeeds").
    client, resources = live
    async with resources.sessions() as db:
        await seed_demo(db, password="demo-password-123")
        researcher = await db.scalar(select(Agent).where(Agent.name == "Scripted researcher"))
        user = await db.scalar(select(User).where(User.email == "user@demo.example.com"))
        assert researcher is not None
        assert user is not None
        tokens = await open_session(db, resources=resources, user=user, meta=RequestMeta())
        await db.commit()
    headers = {"authorization": f"Bearer {tokens.access_token}"}

    created = await client.post(
        "/v1/tasks",
        json={"agent_id": str(researcher.id), "input": {"message": "What time is it?"}},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    done = await _wait(client, created.json()["id"], headers, timeout_s=60)
    assert done["state"] == "succeeded", done

    steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=headers)).json()
    assert [(s["kind"], s["name"]) for s in steps] == [
        ("llm", "mock/scripted"),
        ("tool", "python"),
        ("llm", "mock/scripted"),
    ]
    tool = steps[1]
    assert tool["status"] == "succeeded"
    assert tool["error"] is None
    assert "error" not in tool["output"], tool["output"]
    assert tool["output"]["exit_code"] == 0, tool["output"]
    printed = dt.datetime.fromisoformat(tool["output"]["stdout"].strip())
    assert abs(printed - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert done["output"]["text"] == "Done: the python tool printed the time (see its step)."
