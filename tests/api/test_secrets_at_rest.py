"""No secret is stored in clear: passwords, session tokens, API keys, mailed tokens, invitation tokens."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Role
from agentic.resources import Resources
from agentic.security.permissions import Scope
from agentic.services.audit import Actor
from agentic.services.organizations import create_invitation
from tests.support.accounts import PASSWORD, make_account, make_key, make_org

pytestmark = pytest.mark.usefixtures("backend")

HEX64 = re.compile(r"^[0-9a-f]{64}$")


async def _dump(db: AsyncSession, table: str) -> str:
    rows = (await db.execute(text(f"SELECT * FROM {table}"))).all()  # noqa: S608  # fixed table names
    return "\n".join(str(tuple(row)) for row in rows)


async def test_secrets_are_stored_hashed(
    client: httpx.AsyncClient, db: AsyncSession, resources: Resources
) -> None:
    org = await make_org(db)
    admin = await make_account(db, resources, org=org, role=Role.ADMIN)
    login = (
        await client.post("/v1/auth/login", json={"email": admin.user.email, "password": PASSWORD})
    ).json()
    key_id, key_secret = await make_key(db, resources, admin, scopes=[Scope.ADMIN])
    await create_invitation(
        db,
        resources=resources,
        org=org,
        email="guest@example.com",
        role=Role.USER,
        actor=Actor(user_id=admin.user.id, org_id=org.id),
    )
    await client.post("/v1/auth/password-reset/request", json={"email": admin.user.email})
    from agentic.mail import extract_links, list_outbox

    mails = list_outbox(resources.settings.data_dir / "outbox")
    mailed_tokens = [
        link.split("token=")[1] for m in mails for link in extract_links(m.text) if "token=" in link
    ]
    assert len(mailed_tokens) == 2  # the invitation and the reset

    secrets = [PASSWORD, login["access_token"], login["refresh_token"], key_secret, *mailed_tokens]
    everything = "\n".join(
        [
            await _dump(db, t)
            for t in ("users", "auth_sessions", "api_keys", "email_tokens", "invitations", "audit_events")
        ]
    )
    for secret in secrets:
        assert secret not in everything

    password_hash = (await db.execute(text("SELECT password_hash FROM users"))).scalars().all()
    assert all(h.startswith("$argon2id$") for h in password_hash)
    for column, table in (
        ("access_token_hash", "auth_sessions"),
        ("refresh_token_hash", "auth_sessions"),
        ("secret_hash", "api_keys"),
        ("token_hash", "email_tokens"),
        ("token_hash", "invitations"),
    ):
        values = (await db.execute(text(f"SELECT {column} FROM {table}"))).scalars().all()  # noqa: S608
        assert values
        assert all(HEX64.match(v) for v in values), f"{table}.{column}"
    # The visible prefix identifies the key without revealing it.
    prefix = (await db.execute(text("SELECT prefix FROM api_keys"))).scalars().all()
    assert any(key_secret.startswith(p + "_") for p in prefix)
    assert key_id is not None


async def test_hashes_are_keyed_by_the_installation_secret(resources: Resources) -> None:
    """Without the secret key, a stolen hash cannot even be checked against a guessed token."""
    import hashlib

    from agentic.security.tokens import TokenHasher

    token = "ags_example"
    assert resources.hasher.hash(token) != hashlib.sha256(token.encode()).hexdigest()
    assert TokenHasher("another-secret-key-of-enough-length!!").hash(token) != resources.hasher.hash(token)
