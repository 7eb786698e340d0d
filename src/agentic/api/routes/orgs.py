"""Organisations (tenants), their members and invitations."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, status

from agentic.api.deps import ResourcesDep, SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import AuthenticatedCaller, MetaDep, Principal, require
from agentic.db.models import Invitation, Organization, Role
from agentic.errors import PermissionDenied
from agentic.schemas.common import error_responses
from agentic.schemas.orgs import (
    InvitationAccept,
    InvitationCreate,
    InvitationOut,
    MemberOut,
    MemberUpdate,
    OrganizationCreate,
    OrganizationOut,
    OrganizationUpdate,
)
from agentic.security.permissions import Permission
from agentic.services import organizations as service
from agentic.services.llm import stores_llm_content

router = APIRouter(prefix=API_PREFIX, tags=["organizations"])


def _org_out(org: Organization, role: Role) -> OrganizationOut:
    return OrganizationOut(
        id=org.id,
        name=org.name,
        slug=org.slug,
        plan=org.plan,
        billing_email=org.billing_email,
        created_at=org.created_at,
        role=role,
        store_llm_content=stores_llm_content(org),
    )


def _member_out(member: service.Member) -> MemberOut:
    return MemberOut(
        user_id=member.user.id,
        email=member.user.email,
        display_name=member.user.display_name,
        role=member.membership.role,
        joined_at=member.membership.created_at,
    )


def _invitation_out(invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role,
        invited_by_id=invitation.invited_by_id,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


@router.get("/orgs", summary="The organisations I belong to")
async def list_orgs(caller: AuthenticatedCaller, session: SessionDep) -> list[OrganizationOut]:
    """Any signed-in user (an API key sees only its own organisation)."""
    if caller.key is not None:
        org = await service.get_organization(session, org_id=caller.key.key.org_id)
        return [_org_out(org, caller.key.membership.role)]
    return [
        _org_out(m.organization, m.role)
        for m in await service.list_user_organizations(session, user_id=caller.user.id)
    ]


@router.post(
    "/orgs",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 422),
    summary="Create an organisation",
)
async def create_org(
    body: OrganizationCreate, caller: AuthenticatedCaller, session: SessionDep, meta: MetaDep
) -> OrganizationOut:
    """Any signed-in user (not an API key); they become its admin."""
    if caller.key is not None:
        raise PermissionDenied("API keys cannot create organisations.", code="not_for_api_keys")
    org = await service.create_organization_for(
        session, name=body.name, user_id=caller.user.id, meta_request_id=meta.request_id
    )
    return _org_out(org, Role.ADMIN)


@router.get("/orgs/{org_id}", responses=error_responses(404), summary="An organisation")
async def get_org(
    org_id: uuid.UUID, principal: Annotated[Principal, require(Permission.ORG_READ)], session: SessionDep
) -> OrganizationOut:
    """Members of the organisation."""
    return _org_out(await service.get_organization(session, org_id=org_id), principal.role)


@router.patch(
    "/orgs/{org_id}", responses=error_responses(403, 404, 422), summary="Rename or change billing email"
)
async def update_org(
    org_id: uuid.UUID,
    body: OrganizationUpdate,
    principal: Annotated[Principal, require(Permission.ORG_MANAGE)],
    session: SessionDep,
) -> OrganizationOut:
    """Admins."""
    org = await service.get_organization(session, org_id=org_id)
    changes = body.model_dump(exclude_unset=True, mode="json")
    org = await service.update_organization(session, org=org, changes=changes, actor=principal.actor())
    return _org_out(org, principal.role)


@router.get("/orgs/{org_id}/members", responses=error_responses(403, 404), summary="Members and their roles")
async def list_members(
    org_id: uuid.UUID, _principal: Annotated[Principal, require(Permission.MEMBERS_READ)], session: SessionDep
) -> list[MemberOut]:
    """Every member of the organisation."""
    return [_member_out(m) for m in await service.list_members(session)]


@router.patch(
    "/orgs/{org_id}/members/{user_id}",
    responses=error_responses(403, 404, 409),
    summary="Change a member's role",
)
async def update_member(
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    body: MemberUpdate,
    principal: Annotated[Principal, require(Permission.MEMBERS_MANAGE)],
    session: SessionDep,
) -> MemberOut:
    """Admins. The last admin cannot be demoted (409 `last_admin`)."""
    member = await service.change_member_role(
        session, user_id=user_id, role=body.role, actor=principal.actor()
    )
    return _member_out(member)


@router.delete(
    "/orgs/{org_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404, 409),
    summary="Remove a member",
)
async def remove_member(
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: Annotated[Principal, require(Permission.MEMBERS_MANAGE)],
    session: SessionDep,
) -> None:
    """Admins. The last admin cannot be removed (409 `last_admin`)."""
    await service.remove_member(session, user_id=user_id, actor=principal.actor())


@router.get("/orgs/{org_id}/invitations", responses=error_responses(403, 404), summary="Pending invitations")
async def list_invitations(
    org_id: uuid.UUID,
    _principal: Annotated[Principal, require(Permission.MEMBERS_MANAGE)],
    session: SessionDep,
) -> list[InvitationOut]:
    """Admins."""
    return [_invitation_out(i) for i in await service.list_invitations(session)]


@router.post(
    "/orgs/{org_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 404, 409, 422),
    summary="Invite someone by email",
)
async def create_invitation(
    org_id: uuid.UUID,
    body: InvitationCreate,
    principal: Annotated[Principal, require(Permission.MEMBERS_MANAGE)],
    session: SessionDep,
    resources: ResourcesDep,
) -> InvitationOut:
    """Admins. Mails a single-use link; a pending invitation to the same address is replaced."""
    org = await service.get_organization(session, org_id=org_id)
    invitation = await service.create_invitation(
        session, resources=resources, org=org, email=str(body.email), role=body.role, actor=principal.actor()
    )
    return _invitation_out(invitation)


@router.delete(
    "/orgs/{org_id}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
    summary="Withdraw an invitation",
)
async def revoke_invitation(
    org_id: uuid.UUID,
    invitation_id: uuid.UUID,
    principal: Annotated[Principal, require(Permission.MEMBERS_MANAGE)],
    session: SessionDep,
) -> None:
    """Admins."""
    await service.revoke_invitation(session, invitation_id=invitation_id, actor=principal.actor())


@router.post(
    "/invitations/accept", responses=error_responses(400, 403, 409), summary="Accept an invitation sent to me"
)
async def accept_invitation(
    body: InvitationAccept,
    caller: AuthenticatedCaller,
    session: SessionDep,
    resources: ResourcesDep,
    meta: MetaDep,
) -> OrganizationOut:
    """Any signed-in user whose verified address the invitation was sent to."""
    joined = await service.accept_invitation(
        session, resources=resources, token=body.token, user=caller.user, request_id=meta.request_id
    )
    return _org_out(joined.organization, joined.role)
