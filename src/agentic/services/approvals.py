"""Approvals: a human's decision on a gated tool call, recorded, audited and delivered to the waiting task."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import ApprovalStatus, Task, TaskApproval
from agentic.db.types import utcnow
from agentic.engine import store
from agentic.errors import Conflict, NotFound
from agentic.services.audit import Actor


async def list_approvals(
    session: AsyncSession,
    *,
    task_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
    status: ApprovalStatus | None = None,
    limit: int = 50,
    before_id: uuid.UUID | None = None,
) -> list[TaskApproval]:
    """The organisation's approvals (of one task, of tasks `owner_id` created), newest first."""
    statement = select(TaskApproval).order_by(TaskApproval.id.desc()).limit(limit)
    if task_id is not None:
        statement = statement.where(TaskApproval.task_id == task_id)
    if owner_id is not None:
        statement = statement.join(Task, Task.id == TaskApproval.task_id).where(
            Task.created_by_id == owner_id
        )
    if status is not None:
        statement = statement.where(TaskApproval.status == status)
    if before_id is not None:
        statement = statement.where(TaskApproval.id < before_id)
    return list((await session.scalars(statement)).all())


async def decide(
    session: AsyncSession,
    *,
    task: Task,
    approval_id: uuid.UUID,
    approve: bool,
    comment: str | None,
    actor: Actor,
) -> TaskApproval:
    """Approve or deny a pending request; the task runs on (approved: the call runs; denied: it stops).

    The decision, the task's resumption and the audit record commit together. A request already decided (by
    someone else a moment ago, or by its timeout) or whose task no longer waits is a `Conflict`.
    """
    approval = await session.scalar(
        select(TaskApproval).where(TaskApproval.id == approval_id, TaskApproval.task_id == task.id)
    )
    if approval is None:
        raise NotFound("Approval request not found.")
    if approval.status is not ApprovalStatus.PENDING:
        raise Conflict(f"This request was already {approval.status.value}.", code="approval_decided")
    now = utcnow()
    status = ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED
    # Guarded by the pending status: of two people deciding at once, exactly one wins.
    decided = await session.execute(
        update(TaskApproval)
        .where(TaskApproval.id == approval.id, TaskApproval.status == ApprovalStatus.PENDING)
        .values(status=status, decided_at=now, decided_by_id=actor.user_id, comment=comment)
        .execution_options(synchronize_session=False)
    )
    resumed = decided.rowcount == 1 and await store.resolve_wait(  # type: ignore[attr-defined]
        session,
        task_id=task.id,
        step_key=approval.step_key,
        output={"signal": {"approved": approve, "comment": comment, "decided_by": str(actor.user_id)}},
        how=status.value,
    )
    if not resumed:
        await session.rollback()
        raise Conflict("The task is no longer waiting for this decision.", code="approval_decided")
    actor.audit(
        session,
        f"approval.{status.value}",
        target_type="task",
        target_id=str(task.id),
        details={
            "approval_id": str(approval.id),
            "tool": approval.tool,
            "step": approval.step_key,
            "comment": comment,
        },
    )
    await session.commit()
    await session.refresh(approval)
    return approval
