"""Organisations (tenants), their members and invitations."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Invitation, Membership, Organization, Role, User
from agentic.db.types import utcnow
from agentic.errors import AgenticError, Conflict, NotFound, PermissionDenied
from agentic.logging import get_logger
from agentic.mail import EmailMessage
from agentic.security.tokens import random_token
from agentic.services.audit import Actor, record_audit_event

if TYPE_CHECKING:
    from agentic.resources import Resources

log = get_logger("agentic.organizations")

_MAX_SLUG = 48


def slugify(name: str) -> str:
    """A URL-safe slug: ASCII-folded, lower-case, dash-separated ("Zürich AG" → "zurich-ag")."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    return slug[:_MAX_SLUG].rstrip("-") or "org"


async def unique_slug(session: AsyncSession, *, name: str) -> str:
    """A slug for `name` not used by any organisation yet (adds -2, -3, … on collision)."""
    base = slugify(name)
    taken = set(
        (await session.scalars(select(Organization.slug).where(Organization.slug.like(f"{base}%")))).all()
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


async def create_organization(session: AsyncSession, *, name: str) -> Organization:
    """Add a new organisation with a unique slug to the session (flushed, not committed)."""
    org = Organization(name=name, slug=await unique_slug(session, name=name), settings={})
    session.add(org)
    await session.flush()
    return org


class LastAdmin(Conflict):
    """The change would leave the organisation without an administrator."""

    code = "last_admin"


class AlreadyMember(Conflict):
    """The user is a member already."""

    code = "already_member"


@dataclass(frozen=True, slots=True)
class OrgMembership:
    """An organisation as one of its members sees it."""

    organization: Organization
    role: Role


@dataclass(frozen=True, slots=True)
class Member:
    """A member of an organisation."""

    user: User
    membership: Membership


async def list_user_organizations(session: AsyncSession, *, user_id: uuid.UUID) -> list[OrgMembership]:
    """The organisations a user belongs to, oldest membership first (the first is the default)."""
    rows = await session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user_id, Organization.deleted_at.is_(None))
        .order_by(Membership.created_at, Membership.id)
    )
    return [OrgMembership(organization=org, role=role) for org, role in rows.all()]


async def create_organization_for(
    session: AsyncSession, *, name: str, user_id: uuid.UUID, meta_request_id: str | None = None
) -> Organization:
    """Create an organisation with `user_id` as its administrator, and commit."""
    org = await create_organization(session, name=name)
    session.add(Membership(org_id=org.id, user_id=user_id, role=Role.ADMIN))
    record_audit_event(
        session,
        action="org.created",
        org_id=org.id,
        actor_type="user",
        actor_id=user_id,
        target_type="organization",
        target_id=str(org.id),
        request_id=meta_request_id,
    )
    await session.commit()
    return org


async def get_organization(session: AsyncSession, *, org_id: uuid.UUID) -> Organization:
    """The organisation, or `NotFound`."""
    org = await session.get(Organization, org_id)
    if org is None or org.deleted_at is not None:
        raise NotFound("Organisation not found.")
    return org


async def update_organization(
    session: AsyncSession, *, org: Organization, changes: dict[str, Any], actor: Actor
) -> Organization:
    """Apply allowed changes (name, billing email, content storage) and audit them."""
    changes = dict(changes)
    settings_changes = {key: changes.pop(key) for key in ("store_llm_content",) if key in changes}
    before: dict[str, Any] = {field: getattr(org, field) for field in changes}
    before |= {key: org.settings.get(key) for key in settings_changes}
    for field, value in changes.items():
        setattr(org, field, value)
    if settings_changes:
        # Reassign: in-place mutation of a JSON column is not tracked.
        org.settings = {**org.settings, **settings_changes}
        changes |= settings_changes
    actor.audit(
        session,
        "org.updated",
        target_type="organization",
        target_id=str(org.id),
        details={
            "changes": {field: {"from": before[field], "to": value} for field, value in changes.items()}
        },
    )
    await session.commit()
    return org


async def list_members(session: AsyncSession) -> list[Member]:
    """Members of the session's organisation (tenant scoping applies), oldest first."""
    rows = await session.execute(
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .order_by(Membership.created_at)
    )
    return [Member(user=user, membership=membership) for user, membership in rows.all()]


async def _membership(session: AsyncSession, user_id: uuid.UUID) -> Membership:
    membership = await session.scalar(select(Membership).where(Membership.user_id == user_id))
    if membership is None:
        raise NotFound("Member not found.")
    return membership


async def _admin_count(session: AsyncSession) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(Membership).where(Membership.role == Role.ADMIN)
        )
        or 0
    )


async def change_member_role(
    session: AsyncSession, *, user_id: uuid.UUID, role: Role, actor: Actor
) -> Member:
    """Change a member's role; an organisation always keeps at least one admin."""
    membership = await _membership(session, user_id)
    if membership.role == Role.ADMIN and role != Role.ADMIN and await _admin_count(session) <= 1:
        raise LastAdmin("An organisation needs at least one admin; promote someone else first.")
    previous = membership.role
    membership.role = role
    actor.audit(
        session,
        "org.member_role_changed",
        target_type="user",
        target_id=str(user_id),
        details={"from": previous.value, "to": role.value},
    )
    await session.commit()
    user = await session.get(User, user_id)
    assert user is not None  # noqa: S101  # membership rows cascade with users
    return Member(user=user, membership=membership)


async def remove_member(session: AsyncSession, *, user_id: uuid.UUID, actor: Actor) -> None:
    """Remove a member (their API keys for this organisation stop working with the membership)."""
    membership = await _membership(session, user_id)
    if membership.role == Role.ADMIN and await _admin_count(session) <= 1:
        raise LastAdmin("An organisation needs at least one admin; promote someone else first.")
    await session.delete(membership)
    actor.audit(session, "org.member_removed", target_type="user", target_id=str(user_id))
    await session.commit()


async def create_invitation(
    session: AsyncSession, *, resources: Resources, org: Organization, email: str, role: Role, actor: Actor
) -> Invitation:
    """Invite an address with a role and mail the link; a new invitation replaces a pending one."""
    email = email.strip().lower()
    existing_member = await session.scalar(
        select(Membership).join(User, User.id == Membership.user_id).where(User.email == email)
    )
    if existing_member is not None:
        raise AlreadyMember("That address already belongs to a member.")
    now = utcnow()
    await session.execute(
        update(Invitation)
        .where(Invitation.email == email, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    token = random_token()
    invitation = Invitation(
        org_id=org.id,
        email=email,
        role=role,
        token_hash=resources.hasher.hash(token),
        invited_by_id=actor.user_id,
        expires_at=now + dt.timedelta(seconds=resources.settings.auth.invitation_ttl_s),
    )
    session.add(invitation)
    await session.flush()
    actor.audit(
        session,
        "org.member_invited",
        target_type="invitation",
        target_id=str(invitation.id),
        details={"email": email, "role": role.value},
    )
    await session.commit()
    link = f"{resources.settings.public_url}/accept-invitation?token={token}"
    try:
        await resources.mailer.send(
            EmailMessage(
                to=email,
                subject=f"You are invited to {org.name} on Agentic",
                text=(
                    f"You have been invited to join {org.name} on Agentic as {role.value}.\n\n"
                    "Accept the invitation here (sign up with this address first if you have no "
                    f"account):\n\n{link}\n\n"
                    f"The invitation expires in {resources.settings.auth.invitation_ttl_s // 86400} days."
                ),
            )
        )
    except Exception as exc:  # the invitation stands; it can be sent again
        log.error("mail.delivery_failed", to=email, error=str(exc)[:300])
    return invitation


async def list_invitations(session: AsyncSession) -> list[Invitation]:
    """Pending invitations of the session's organisation, newest first."""
    rows = await session.scalars(
        select(Invitation)
        .where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .order_by(Invitation.id.desc())
    )
    return list(rows.all())


async def revoke_invitation(session: AsyncSession, *, invitation_id: uuid.UUID, actor: Actor) -> None:
    """Withdraw a pending invitation."""
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise NotFound("Invitation not found.")
    invitation.revoked_at = utcnow()
    actor.audit(session, "org.invitation_revoked", target_type="invitation", target_id=str(invitation.id))
    await session.commit()


async def accept_invitation(
    session: AsyncSession, *, resources: Resources, token: str, user: User, request_id: str | None
) -> OrgMembership:
    """Join the inviting organisation. Only the owner of the invited address (verified) can accept."""
    now = utcnow()
    invitation = await session.scalar(
        select(Invitation).where(Invitation.token_hash == resources.hasher.hash(token))
    )
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= now
    ):
        raise InvalidInvitation("This invitation is invalid, used or expired.")
    if invitation.email != user.email or user.email_verified_at is None:
        raise PermissionDenied(
            "This invitation was sent to another address.", code="invitation_email_mismatch"
        )
    org = await get_organization(session, org_id=invitation.org_id)
    already = await session.scalar(
        select(Membership).where(Membership.org_id == org.id, Membership.user_id == user.id)
    )
    if already is not None:
        raise AlreadyMember("You are a member of this organisation already.")
    invitation.accepted_at, invitation.accepted_by_id = now, user.id
    session.add(Membership(org_id=org.id, user_id=user.id, role=invitation.role))
    record_audit_event(
        session,
        action="org.member_joined",
        org_id=org.id,
        actor_type="user",
        actor_id=user.id,
        target_type="invitation",
        target_id=str(invitation.id),
        request_id=request_id,
        details={"role": invitation.role.value},
    )
    await session.commit()
    return OrgMembership(organization=org, role=invitation.role)


class InvalidInvitation(AgenticError):
    """Unknown, used, revoked or expired invitation token."""

    code = "invalid_invitation"
    status_code = 400
