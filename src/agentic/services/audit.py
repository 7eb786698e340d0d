"""The append-only audit log: writing records and listing them."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import AuditEvent


def record_audit_event(
    session: AsyncSession,
    *,
    action: str,
    org_id: uuid.UUID | None,
    actor_type: str,
    actor_id: uuid.UUID | None,
    target_type: str | None = None,
    target_id: str | None = None,
    request_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit record to the session; it commits with the change it describes, or not at all."""
    event = AuditEvent(
        org_id=org_id,
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        request_id=request_id,
        ip=ip,
        user_agent=user_agent[:512] if user_agent else None,
        details=details or {},
    )
    session.add(event)
    return event


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, in which organisation and request: stamped on every audit record they cause."""

    user_id: uuid.UUID
    org_id: uuid.UUID | None
    api_key_id: uuid.UUID | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def audit(
        self,
        session: AsyncSession,
        action: str,
        *,
        target_type: str | None = None,
        target_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Record `action` by this actor (committed with the caller's transaction)."""
        merged = dict(details or {})
        if self.api_key_id is not None:
            merged["api_key_id"] = str(self.api_key_id)
        return record_audit_event(
            session,
            action=action,
            org_id=self.org_id,
            actor_type="api_key" if self.api_key_id else "user",
            actor_id=self.user_id,
            target_type=target_type,
            target_id=target_id,
            request_id=self.request_id,
            ip=self.ip,
            user_agent=self.user_agent,
            details=merged,
        )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Filters for listing the audit log."""

    action: str | None = None
    actor_id: uuid.UUID | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


async def list_audit_events(
    session: AsyncSession, *, filters: AuditFilter, limit: int, before_id: uuid.UUID | None
) -> list[AuditEvent]:
    """The session organisation's audit events, newest first, older than `before_id` (the cursor).

    UUIDv7 ids sort by time, so the id alone is a stable keyset cursor.
    """
    statement = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before_id is not None:
        statement = statement.where(AuditEvent.id < before_id)
    if filters.action:
        # A trailing ".*" lists a family of actions, e.g. "auth.*".
        if filters.action.endswith(".*"):
            statement = statement.where(AuditEvent.action.startswith(filters.action[:-1], autoescape=True))
        else:
            statement = statement.where(AuditEvent.action == filters.action)
    if filters.actor_id:
        statement = statement.where(AuditEvent.actor_id == filters.actor_id)
    if filters.target_type:
        statement = statement.where(AuditEvent.target_type == filters.target_type)
    if filters.target_id:
        statement = statement.where(AuditEvent.target_id == filters.target_id)
    if filters.since:
        statement = statement.where(AuditEvent.created_at >= filters.since)
    if filters.until:
        statement = statement.where(AuditEvent.created_at < filters.until)
    return list((await session.scalars(statement)).all())
