"""First run: the installation's first administrator and organisation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass

from sqlalchemy import exists, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Membership, Role, User
from agentic.db.types import utcnow
from agentic.errors import Conflict, PermissionDenied
from agentic.security.passwords import check_password_policy, hash_password
from agentic.services.audit import record_audit_event
from agentic.services.auth import normalise_email
from agentic.services.organizations import create_organization

# Any constant works; it only separates this use of the secret key from others.
_SETUP_TOKEN_CONTEXT = b"agentic/first-run-setup/v1"
# Serialises concurrent first-run attempts across PostgreSQL connections (arbitrary, fixed 64-bit key).
_SETUP_LOCK_KEY = 0x61676E7463_5345


class AlreadySetUp(Conflict):
    """The installation already has users."""

    code = "already_set_up"


class InvalidSetupToken(PermissionDenied):
    """The setup token does not match."""

    code = "invalid_setup_token"


@dataclass(frozen=True, slots=True)
class FirstAdmin:
    """What first-run setup created."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    email: str


def setup_token(secret_key: str) -> str:
    """The one-time setup token.

    Derived from the secret key rather than stored, so every API replica accepts the same link without shared
    state; it stops working the moment an administrator exists.
    """
    digest = hmac.new(secret_key.encode(), _SETUP_TOKEN_CONTEXT, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def setup_link(*, public_url: str, secret_key: str) -> str:
    """The first-run setup page's address with the installation's token."""
    return f"{public_url}/setup?token={setup_token(secret_key)}"


def check_setup_token(*, secret_key: str, token: str) -> None:
    """Raise `InvalidSetupToken` unless `token` is the installation's setup token (constant-time compare)."""
    if not hmac.compare_digest(setup_token(secret_key).encode(), token.encode()):
        raise InvalidSetupToken("The setup token is not valid. Use the link printed in the server log.")


async def needs_setup(session: AsyncSession) -> bool:
    """True while no user exists."""
    return not bool(await session.scalar(select(exists().where(User.id.is_not(None)))))


async def create_first_admin(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    organization_name: str,
    request_id: str | None = None,
    ip: str | None = None,
    via: str = "setup_link",
) -> FirstAdmin:
    """Create the first administrator, their organisation and an audit record, and commit.

    Args:
        session: A fresh session; this function commits it.
        email: The administrator's email: the address rule of sign-up and login (`normalise_email`), so the
            administrator can sign in with it; stored lower-case.
        password: Plain password; checked against the policy, stored as an Argon2id hash.
        organization_name: Name of the first organisation.
        request_id: Request that triggered it, for the audit log.
        ip: Caller address, for the audit log.
        via: How setup happened (`setup_link` or `environment`).

    Returns:
        The new administrator and organisation.

    Raises:
        AlreadySetUp: A user exists already (also when a concurrent setup won the race).
        InvalidInput: The address or the password is refused.
    """
    email = normalise_email(email)
    check_password_policy(password, email=email)
    password_hash = await hash_password(password)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SETUP_LOCK_KEY})
    if not await needs_setup(session):
        await session.rollback()
        raise AlreadySetUp("This installation is already set up; sign in instead.")
    org = await create_organization(session, name=organization_name)
    user = User(
        email=email,
        password_hash=password_hash,
        email_verified_at=utcnow(),  # the operator who holds the setup token owns this address
        is_active=True,
        is_platform_admin=True,
    )
    session.add(user)
    await session.flush()
    session.add(Membership(org_id=org.id, user_id=user.id, role=Role.ADMIN))
    record_audit_event(
        session,
        action="setup.first_admin_created",
        org_id=org.id,
        actor_type="system",
        actor_id=None,
        target_type="user",
        target_id=str(user.id),
        request_id=request_id,
        ip=ip,
        details={"via": via, "organization_slug": org.slug},
    )
    await session.commit()
    return FirstAdmin(user_id=user.id, organization_id=org.id, email=email)
