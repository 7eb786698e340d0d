"""Writing the audit log."""

from __future__ import annotations

import uuid
from typing import Any

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
