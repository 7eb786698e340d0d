"""The signed-in user."""

from __future__ import annotations

from fastapi import APIRouter, Request

from agentic.api.deps import SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import AuthenticatedCaller, get_principal
from agentic.errors import AgenticError
from agentic.schemas.auth import Me, MembershipOut
from agentic.schemas.common import error_responses
from agentic.services.organizations import get_organization, list_user_organizations

router = APIRouter(prefix=API_PREFIX, tags=["auth"])


@router.get(
    "/me", responses=error_responses(401), summary="Who am I, in which organisation, allowed to do what"
)
async def me(request: Request, caller: AuthenticatedCaller, session: SessionDep) -> Me:
    """Any signed-in caller; the organisation is the one requests act in (see `X-Org-Id`)."""
    memberships = (
        [] if caller.key is not None else await list_user_organizations(session, user_id=caller.user.id)
    )
    organizations = [
        MembershipOut(
            id=m.organization.id, name=m.organization.name, slug=m.organization.slug, role=m.role.value
        )
        for m in memberships
    ]
    try:
        principal = await get_principal(request, caller, session)
    except AgenticError:
        principal = None  # a user without any organisation still has an identity
    current = None
    permissions: list[str] = []
    if principal is not None:
        permissions = sorted(p.value for p in principal.permissions)
        current = next((m for m in organizations if m.id == principal.org_id), None)
        if current is None:  # an API key: report its organisation
            org = await get_organization(session, org_id=principal.org_id)
            current = MembershipOut(id=org.id, name=org.name, slug=org.slug, role=principal.role.value)
            organizations = [current]
    return Me(
        id=caller.user.id,
        email=caller.user.email,
        display_name=caller.user.display_name,
        email_verified=caller.user.email_verified_at is not None,
        authenticated_via=caller.via,
        organization=current,
        permissions=permissions,
        organizations=organizations,
    )
