"""Demo data: an organisation with one user per role and a few agents on the mock LLM."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Agent, AgentVersion, AgentVisibility, Membership, Organization, Role, User
from agentic.db.types import utcnow
from agentic.security.passwords import hash_password
from agentic.services.audit import record_audit_event

DEMO_ORG_SLUG = "demo"
DEMO_USERS = (
    ("admin@demo.example.com", "Demo Admin", Role.ADMIN),
    ("operator@demo.example.com", "Demo Operator", Role.OPERATOR),
    ("user@demo.example.com", "Demo User", Role.USER),
)


def _agent_config(model: dict[str, Any], system_prompt: str, tools: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "model": {"fallbacks": [], "options": {}, **model},
        "system_prompt": system_prompt,
        # The stored form of a tool entry, as the agents API writes it.
        "tools": [
            {"name": name, "config": {}, "needs_approval": False, "approval_rules": [], "min_role": None}
            for name in tools
        ],
        "policies": {"max_steps": 10, "max_concurrent_runs": 5, "on_limit": "enqueue", "timeout_s": 300},
    }


# What the scripted researcher runs in the sandbox: the time, read where the task runs (no network needed).
RESEARCHER_CODE = (
    "import datetime\nprint(datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))"
)

DEMO_AGENTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "Echo",
        "Repeats the last user message: the smallest possible agent, handy for trying the platform.",
        _agent_config({"provider": "mock", "name": "echo"}, "You repeat what the user says."),
    ),
    (
        "Greeter",
        "Always answers with a fixed greeting (mock provider, `fixed` model).",
        _agent_config(
            {"provider": "mock", "name": "fixed", "options": {"reply": "Hello from Agentic!"}},
            "You greet people warmly.",
        ),
    ),
    (
        "Scripted researcher",
        "A scripted run: asks the `python` tool for the time, then answers (mock provider, `scripted` "
        "model; the tool needs bubblewrap on the server).",
        _agent_config(
            {
                "provider": "mock",
                "name": "scripted",
                "options": {
                    "script": [
                        # Only a tool the agent is given: a call to any other is refused, not run.
                        {"tool_calls": [{"name": "python", "arguments": {"code": RESEARCHER_CODE}}]},
                        {"text": "Done: the python tool printed the time (see its step)."},
                    ]
                },
            },
            "You research questions with the tools you have.",
            tools=("python",),
        ),
    ),
)


@dataclass(slots=True)
class SeedResult:
    """What the seed created (empty lists when everything existed already)."""

    organization_slug: str
    users: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    already_present: bool = False


async def seed_demo(
    session: AsyncSession, *, password: str, progress: Callable[[str], None] | None = None
) -> SeedResult:
    """Create the demo organisation, users and agents; a second run changes nothing.

    Args:
        session: A fresh session; this function commits it.
        password: Password of every demo user.
        progress: Called with a short description after each item is created.

    Returns:
        What was created.
    """
    note = progress or (lambda _item: None)
    existing = await session.scalar(select(Organization).where(Organization.slug == DEMO_ORG_SLUG))
    if existing is not None:
        return SeedResult(organization_slug=DEMO_ORG_SLUG, already_present=True)

    result = SeedResult(organization_slug=DEMO_ORG_SLUG)
    org = Organization(name="Demo", slug=DEMO_ORG_SLUG, settings={}, plan="free")
    session.add(org)
    await session.flush()
    note("organization demo")

    password_hash = await hash_password(password)
    owner: User | None = None
    for email, name, role in DEMO_USERS:
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(
                email=email, display_name=name, password_hash=password_hash, email_verified_at=utcnow()
            )
            session.add(user)
            await session.flush()
            result.users.append(email)
        session.add(Membership(org_id=org.id, user_id=user.id, role=role))
        owner = owner or user
        note(f"user {email} ({role.value})")

    for name, description, config in DEMO_AGENTS:
        agent = Agent(
            org_id=org.id,
            owner_id=owner.id if owner else None,
            name=name,
            description=description,
            visibility=AgentVisibility.ORG,
            latest_version=1,
        )
        session.add(agent)
        await session.flush()
        session.add(
            AgentVersion(
                org_id=org.id,
                agent_id=agent.id,
                version=1,
                config=config,
                created_by_id=owner.id if owner else None,
            )
        )
        result.agents.append(name)
        note(f"agent {name}")

    record_audit_event(
        session,
        action="seed.demo_created",
        org_id=org.id,
        actor_type="system",
        actor_id=None,
        details={"users": result.users, "agents": result.agents},
    )
    await session.commit()
    return result
