"""The organisation's audit log, for admins."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from agentic.api.deps import SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import Principal, require
from agentic.errors import InvalidInput
from agentic.schemas.audit import AuditEventOut, AuditPage
from agentic.schemas.common import error_responses
from agentic.security.permissions import Permission
from agentic.services.audit import AuditFilter, list_audit_events

router = APIRouter(prefix=API_PREFIX, tags=["audit"])


@router.get("/audit-events", responses=error_responses(403, 422), summary="Audit records, newest first")
async def audit_events(
    _principal: Annotated[Principal, require(Permission.AUDIT_READ)],
    session: SessionDep,
    action: Annotated[str | None, Query(max_length=100, description="Exact, or a family: `auth.*`.")] = None,
    actor_id: uuid.UUID | None = None,
    target_type: Annotated[str | None, Query(max_length=50)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> AuditPage:
    """Admins; only their organisation's records."""
    before_id = None
    if cursor is not None:
        try:
            before_id = uuid.UUID(cursor)
        except ValueError:
            raise InvalidInput("Invalid cursor.", details=[{"loc": ["query", "cursor"]}]) from None
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"`{name}` needs a time zone (e.g. …Z).", details=[{"loc": ["query", name]}])
    events = await list_audit_events(
        session,
        filters=AuditFilter(
            action=action,
            actor_id=actor_id,
            target_type=target_type,
            target_id=target_id,
            since=since,
            until=until,
        ),
        limit=limit,
        before_id=before_id,
    )
    items = [
        AuditEventOut(
            id=e.id,
            created_at=e.created_at,
            action=e.action,
            actor_type=e.actor_type,
            actor_id=e.actor_id,
            target_type=e.target_type,
            target_id=e.target_id,
            ip=e.ip,
            user_agent=e.user_agent,
            request_id=e.request_id,
            details=e.details,
        )
        for e in events
    ]
    return AuditPage(items=items, next_cursor=str(events[-1].id) if len(events) == limit else None)
