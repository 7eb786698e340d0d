"""Approvals of gated tool calls: see what a task wants to run, and approve or deny it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from agentic.api.deps import SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import Principal, require
from agentic.db.models import ApprovalStatus, TaskApproval
from agentic.errors import InvalidInput, PermissionDenied
from agentic.schemas.approvals import ApprovalDecision, ApprovalOut, ApprovalPage
from agentic.schemas.common import error_responses
from agentic.security.permissions import Permission
from agentic.services import approvals as service
from agentic.services import tasks as tasks_service

router = APIRouter(prefix=API_PREFIX, tags=["approvals"])

Reader = Annotated[Principal, require(Permission.TASKS_READ)]
Runner = Annotated[Principal, require(Permission.TASKS_RUN)]


def approval_out(approval: TaskApproval) -> ApprovalOut:
    """The API view of an approval request."""
    return ApprovalOut(
        id=approval.id,
        task_id=approval.task_id,
        step_key=approval.step_key,
        tool=approval.tool,
        arguments=approval.arguments,
        reason=approval.reason,
        status=approval.status,
        requested_at=approval.requested_at,
        expires_at=approval.expires_at,
        decided_at=approval.decided_at,
        decided_by_id=approval.decided_by_id,
        comment=approval.comment,
    )


def _owner(principal: Principal) -> uuid.UUID | None:
    # Without tasks:read_all a principal sees only the approvals of tasks it created.
    return None if principal.can(Permission.TASKS_READ_ALL) else principal.user_id


def _before(cursor: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(cursor) if cursor else None
    except ValueError:
        raise InvalidInput("Invalid cursor.", details=[{"loc": ["query", "cursor"]}]) from None


def _page(items: list[TaskApproval], limit: int) -> ApprovalPage:
    return ApprovalPage(
        items=[approval_out(a) for a in items],
        next_cursor=str(items[-1].id) if len(items) == limit else None,
    )


@router.get(
    "/approvals",
    responses=error_responses(422),
    summary="Approval requests in the organisation (yours, or all with tasks:read_all)",
)
async def list_approvals(
    principal: Reader,
    session: SessionDep,
    status: ApprovalStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ApprovalPage:
    """Newest first; `status=pending` is the inbox of decisions waiting for someone."""
    items = await service.list_approvals(
        session, owner_id=_owner(principal), status=status, limit=limit, before_id=_before(cursor)
    )
    return _page(items, limit)


@router.get(
    "/tasks/{task_id}/approvals",
    responses=error_responses(404, 422),
    summary="A task's approval requests",
)
async def list_task_approvals(
    task_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ApprovalPage:
    """Newest first."""
    task = await tasks_service.get_task(session, task_id=task_id, owner_id=_owner(principal))
    items = await service.list_approvals(session, task_id=task.id, limit=limit, before_id=_before(cursor))
    return _page(items, limit)


@router.post(
    "/tasks/{task_id}/approvals/{approval_id}",
    responses=error_responses(403, 404, 409),
    summary="Approve or deny a gated tool call",
)
async def decide_approval(
    task_id: uuid.UUID,
    approval_id: uuid.UUID,
    body: ApprovalDecision,
    principal: Runner,
    session: SessionDep,
) -> ApprovalOut:
    """The task's creator or an operator (tasks:manage) decides; the decision is audited.

    Approved, the tool call runs with exactly the arguments shown; denied, the run stops (`denied`).
    409 when the request was already decided or timed out.
    """
    task = await tasks_service.get_task(session, task_id=task_id, owner_id=_owner(principal))
    if task.created_by_id != principal.user_id and not principal.can(Permission.TASKS_MANAGE):
        raise PermissionDenied("Only the task's creator or an operator can decide its approvals.")
    approval = await service.decide(
        session,
        task=task,
        approval_id=approval_id,
        approve=body.decision == "approve",
        comment=body.comment,
        actor=principal.actor(),
    )
    return approval_out(approval)
