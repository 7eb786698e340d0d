"""Building users, organisations and credentials for tests, without going through the slow paths."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Membership, Organization, Role, User
from agentic.db.types import utcnow
from agentic.resources import Resources
from agentic.security.permissions import Scope
from agentic.services.api_keys import create_api_key
from agentic.services.audit import Actor
from agentic.services.auth import RequestMeta, open_session
from agentic.services.organizations import create_organization

PASSWORD = "correct horse battery staple"
# Hashing once keeps the suite fast; every test user shares this password.
_PASSWORD_HASH = PasswordHasher().hash(PASSWORD)


@dataclass
class Account:
    """A user with a membership and an access token."""

    user: User
    org: Organization
    role: Role
    token: str = ""
    extra_tokens: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        """Bearer authorisation for this account."""
        return {"authorization": f"Bearer {self.token}"}


async def make_org(session: AsyncSession, name: str | None = None) -> Organization:
    """A new organisation."""
    org = await create_organization(session, name=name or f"Org {uuid.uuid4().hex[:6]}")
    await session.commit()
    return org


async def make_account(
    session: AsyncSession,
    resources: Resources,
    *,
    org: Organization,
    role: Role,
    email: str | None = None,
    verified: bool = True,
) -> Account:
    """A user who is a member of `org` with `role`, signed in (bearer token)."""
    user = User(
        email=email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.com",
        password_hash=_PASSWORD_HASH,
        email_verified_at=utcnow() if verified else None,
    )
    session.add(user)
    await session.flush()
    session.add(Membership(org_id=org.id, user_id=user.id, role=role))
    tokens = await open_session(session, resources=resources, user=user, meta=RequestMeta())
    await session.commit()
    return Account(user=user, org=org, role=role, token=tokens.access_token)


async def new_token(session: AsyncSession, resources: Resources, account: Account) -> str:
    """A further session token for the same account."""
    tokens = await open_session(session, resources=resources, user=account.user, meta=RequestMeta())
    await session.commit()
    return tokens.access_token


async def make_key(
    session: AsyncSession, resources: Resources, account: Account, scopes: list[Scope] | None = None
) -> tuple[uuid.UUID, str]:
    """An API key created by `account` (admin scope for admins by default, else agents:read)."""
    if scopes is None:
        scopes = [Scope.ADMIN] if account.role is Role.ADMIN else [Scope.AGENTS_READ]
    created = await create_api_key(
        session,
        hasher=resources.hasher,
        actor=Actor(user_id=account.user.id, org_id=account.org.id),
        role=account.role,
        name=f"key-{uuid.uuid4().hex[:6]}",
        scopes=scopes,
        expires_at=None,
    )
    return created.key.id, created.secret
