"""API keys: created, listed, rotated and revoked by members; admins manage all of the organisation's."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from agentic.api.deps import ResourcesDep, SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import Principal, require
from agentic.db.models import ApiKey
from agentic.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyRotate
from agentic.schemas.common import error_responses
from agentic.security.permissions import Permission
from agentic.services import api_keys as service

router = APIRouter(prefix=f"{API_PREFIX}/api-keys", tags=["api-keys"])

OwnKeys = Annotated[Principal, require(Permission.API_KEYS_OWN)]


def _out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scopes=list(key.scopes),
        created_by_id=key.created_by_id,
        created_at=key.created_at,
        expires_at=key.expires_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
        rotated_from_id=key.rotated_from_id,
    )


def _created(created: service.CreatedKey) -> ApiKeyCreated:
    return ApiKeyCreated(**_out(created.key).model_dump(), key=created.secret)


def _owner_filter(principal: Principal) -> uuid.UUID | None:
    # Admins (api_keys:manage) see and manage every key of the organisation; others only their own.
    return None if principal.can(Permission.API_KEYS_MANAGE) else principal.user_id


@router.get("", summary="List API keys (never their secrets)")
async def list_keys(principal: OwnKeys, session: SessionDep) -> list[ApiKeyOut]:
    """One's own keys; admins see all of the organisation's."""
    return [_out(k) for k in await service.list_api_keys(session, owner_id=_owner_filter(principal))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 422),
    summary="Create an API key (the secret is shown once)",
)
async def create_key(
    body: ApiKeyCreate, principal: OwnKeys, session: SessionDep, resources: ResourcesDep
) -> ApiKeyCreated:
    """Scopes cannot exceed the creator's role (403 `scope_exceeds_role`)."""
    created = await service.create_api_key(
        session,
        hasher=resources.hasher,
        actor=principal.actor(),
        role=principal.role,
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expires_at,
    )
    return _created(created)


@router.post(
    "/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 404, 422),
    summary="Replace a key; the old one works for a grace period",
)
async def rotate_key(
    key_id: uuid.UUID,
    principal: OwnKeys,
    session: SessionDep,
    resources: ResourcesDep,
    body: ApiKeyRotate | None = None,
) -> ApiKeyCreated:
    """One's own keys; admins any of the organisation's."""
    key = await service.get_api_key(session, key_id=key_id, owner_id=_owner_filter(principal))
    grace = body.grace_seconds if body and body.grace_seconds is not None else None
    created = await service.rotate_api_key(
        session,
        hasher=resources.hasher,
        key=key,
        actor=principal.actor(),
        grace_s=resources.settings.auth.api_key_rotation_grace_s if grace is None else grace,
    )
    return _created(created)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
    summary="Revoke a key",
)
async def revoke_key(key_id: uuid.UUID, principal: OwnKeys, session: SessionDep) -> None:
    """Takes effect at once. One's own keys; admins any of the organisation's."""
    key = await service.get_api_key(session, key_id=key_id, owner_id=_owner_filter(principal))
    await service.revoke_api_key(session, key=key, actor=principal.actor())
