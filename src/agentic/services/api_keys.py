"""API keys: created by a member inside an organisation, shown once, stored as a keyed hash."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import ApiKey, Role
from agentic.db.types import utcnow
from agentic.errors import InvalidInput, NotFound, PermissionDenied
from agentic.security.permissions import ROLE_SCOPES, Scope
from agentic.security.tokens import TokenHasher, new_api_key
from agentic.services.audit import Actor


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key and its secret, which exists in clear only in this response."""

    key: ApiKey
    secret: str


def _check_scopes(scopes: list[Scope], role: Role) -> None:
    if not scopes:
        raise InvalidInput("Give the key at least one scope.", details=[{"loc": ["body", "scopes"]}])
    allowed = ROLE_SCOPES[role]
    excess = sorted(scope.value for scope in scopes if scope not in allowed)
    if excess:
        raise PermissionDenied(
            f"A key cannot exceed its creator's role ({role.value}); not allowed: {', '.join(excess)}.",
            code="scope_exceeds_role",
            details={"scopes": excess},
        )


async def create_api_key(
    session: AsyncSession,
    *,
    hasher: TokenHasher,
    actor: Actor,
    role: Role,
    name: str,
    scopes: list[Scope],
    expires_at: dt.datetime | None,
) -> CreatedKey:
    """Create a key for the actor in their current organisation."""
    _check_scopes(scopes, role)
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("The expiry must be in the future.", details=[{"loc": ["body", "expires_at"]}])
    assert actor.org_id is not None  # noqa: S101  # keys are created inside an organisation
    secret, lookup = new_api_key()
    key = ApiKey(
        org_id=actor.org_id,
        created_by_id=actor.user_id,
        name=name,
        prefix=lookup,
        secret_hash=hasher.hash(secret),
        scopes=sorted({scope.value for scope in scopes}),
        expires_at=expires_at,
    )
    session.add(key)
    await session.flush()
    actor.audit(
        session,
        "api_key.created",
        target_type="api_key",
        target_id=str(key.id),
        details={"name": name, "scopes": key.scopes, "prefix": lookup},
    )
    await session.commit()
    return CreatedKey(key=key, secret=secret)


async def list_api_keys(session: AsyncSession, *, owner_id: uuid.UUID | None) -> list[ApiKey]:
    """Keys of the session's organisation, newest first; only `owner_id`'s when given. Never secrets."""
    statement = select(ApiKey).order_by(ApiKey.id.desc())
    if owner_id is not None:
        statement = statement.where(ApiKey.created_by_id == owner_id)
    return list((await session.scalars(statement)).all())


async def get_api_key(session: AsyncSession, *, key_id: uuid.UUID, owner_id: uuid.UUID | None) -> ApiKey:
    """A key of the session's organisation (and of `owner_id`, when given), or `NotFound`."""
    key = await session.get(ApiKey, key_id)
    if key is None or (owner_id is not None and key.created_by_id != owner_id):
        raise NotFound("API key not found.")
    return key


async def rotate_api_key(
    session: AsyncSession, *, hasher: TokenHasher, key: ApiKey, actor: Actor, grace_s: int
) -> CreatedKey:
    """Issue a replacement key with the same name, scopes and expiry; the old one works for `grace_s` more."""
    now = utcnow()
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        raise InvalidInput("A revoked or expired key cannot be rotated; create a new one.")
    secret, lookup = new_api_key()
    replacement = ApiKey(
        org_id=key.org_id,
        created_by_id=key.created_by_id,
        name=key.name,
        prefix=lookup,
        secret_hash=hasher.hash(secret),
        scopes=list(key.scopes),
        expires_at=key.expires_at,
        rotated_from_id=key.id,
    )
    grace_end = now + dt.timedelta(seconds=grace_s)
    key.expires_at = min(key.expires_at, grace_end) if key.expires_at else grace_end
    session.add(replacement)
    await session.flush()
    actor.audit(
        session,
        "api_key.rotated",
        target_type="api_key",
        target_id=str(key.id),
        details={"replacement_id": str(replacement.id), "old_key_valid_until": key.expires_at.isoformat()},
    )
    await session.commit()
    return CreatedKey(key=replacement, secret=secret)


async def revoke_api_key(session: AsyncSession, *, key: ApiKey, actor: Actor) -> None:
    """Revoke a key at once."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        actor.audit(session, "api_key.revoked", target_type="api_key", target_id=str(key.id))
        await session.commit()
