"""Organisations' LLM provider credentials (admins)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from agentic.api.deps import ResourcesDep, SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import Principal, require
from agentic.db.models import ProviderCredential
from agentic.schemas.common import error_responses
from agentic.schemas.llm import CredentialCreate, CredentialOut
from agentic.security.permissions import Permission
from agentic.services import llm as service

router = APIRouter(prefix=f"{API_PREFIX}/provider-credentials", tags=["llm"])

Admin = Annotated[Principal, require(Permission.PROVIDERS_MANAGE)]


def _out(credential: ProviderCredential) -> CredentialOut:
    return CredentialOut(
        id=credential.id,
        provider=credential.provider,
        name=credential.name,
        key_hint=credential.key_hint,
        base_url=credential.base_url,
        created_by_id=credential.created_by_id,
        created_at=credential.created_at,
    )


@router.get("", summary="The organisation's provider credentials (never the keys)")
async def list_credentials(_principal: Admin, session: SessionDep) -> list[CredentialOut]:
    """Admins."""
    return [_out(c) for c in await service.list_credentials(session)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 409, 422),
    summary="Store a provider key (encrypted; shown never again)",
)
async def create_credential(
    body: CredentialCreate, principal: Admin, session: SessionDep, resources: ResourcesDep
) -> CredentialOut:
    """Admins. `base_url` must not point inside the network in production unless allowed by the operator."""
    credential = await service.create_credential(
        session,
        box=resources.secret_box,
        settings=resources.settings,
        actor=principal.actor(),
        provider=body.provider,
        name=body.name,
        api_key=body.api_key.get_secret_value(),
        base_url=body.base_url,
    )
    resources.credentials.forget(principal.org_id)
    return _out(credential)


@router.delete(
    "/{credential_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
    summary="Delete a provider credential",
)
async def delete_credential(
    credential_id: uuid.UUID, principal: Admin, session: SessionDep, resources: ResourcesDep
) -> None:
    """Admins."""
    await service.delete_credential(session, credential_id=credential_id, actor=principal.actor())
    resources.credentials.forget(principal.org_id)
