"""Tasks (durable agent runs), their attempts, checkpointed steps and event log."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from agentic.db.base import Base, CreatedAtMixin, IdMixin, TimestampMixin
from agentic.db.models.enums import ApprovalStatus, AttemptStatus, StepStatus, TaskState, check_in
from agentic.db.tenancy import TenantScoped
from agentic.db.types import JSONDocument, StrEnumType, UTCDateTime, utcnow


class Task(TenantScoped, IdMixin, TimestampMixin, Base):
    """One run of an agent version. The database row is the only source of truth for its state."""

    __tablename__ = "tasks"
    __table_args__ = (
        # Claiming: the oldest runnable queued task first.
        Index(None, "state", "run_at"),
        # The reaper: running tasks whose lease has expired.
        Index(None, "state", "lease_expires_at"),
        # Per-agent concurrency limits count running tasks of one agent.
        Index(None, "agent_id", "state"),
        # Listing an org's tasks newest first (UUIDv7 ids sort by creation time).
        Index(None, "org_id", "id"),
        # Idempotency keys are per organisation; NULLs never collide on either backend.
        UniqueConstraint("org_id", "idempotency_key"),
        CheckConstraint(check_in("state", TaskState), name="state_valid"),
        CheckConstraint("attempt >= 0", name="attempt_non_negative"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"))
    agent_version_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("agent_versions.id", ondelete="CASCADE")
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("api_keys.id", ondelete="SET NULL"))
    # A retry-from-step task points at the task whose completed steps it reuses.
    parent_task_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("tasks.id", ondelete="SET NULL")
    )

    state: Mapped[TaskState] = mapped_column(StrEnumType(TaskState), default=TaskState.QUEUED)
    # Which runner executes the task: "agent" (the agent loop) or a built-in one (e.g. "test.scripted").
    runner: Mapped[str] = mapped_column(String(64), default="agent")
    # Retry policy frozen at creation: backoff bounds and retried error classes (store.retry_decision).
    policy: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    timeout_s: Mapped[int | None] = mapped_column(Integer)
    # The agent's max concurrent runs when the task was created (None: unlimited); claims never exceed it.
    concurrency_limit: Mapped[int | None] = mapped_column(Integer)
    # The sequence number of the newest event; bumped in the same transaction as the event it numbers.
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(SmallInteger, default=0)
    input: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    output: Mapped[Any | None] = mapped_column(JSONDocument)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)

    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))

    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The run number: +1 at every claim; the fencing token, unique per run (one `task_attempts` row each).
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # The attempts counted against `max_attempts`: a run that ended in a wait or a graceful release gives
    # its try back, so waiting for an approval neither uses nor adds attempts.
    tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    wait_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    # Links the API request that created the task to every attempt, on any worker.
    traceparent: Mapped[str | None] = mapped_column(String(55))
    request_id: Mapped[str | None] = mapped_column(String(128))


# Bounded claims (engine.store._agent_heads): queued tasks by agent in claim order (priority, then age); the
# agents are found by a skip scan and each one's head is read with a LIMIT. Partial: queued tasks only.
Index(
    "ix_tasks_claim_agent_order",
    Task.agent_id,
    Task.priority.desc(),
    Task.run_at,
    Task.id,
    postgresql_where=text("state = 'queued'"),
    sqlite_where=text("state = 'queued'"),
)


class TaskAttempt(IdMixin, Base):
    """One execution of a task by one worker under one lease."""

    __tablename__ = "task_attempts"
    __table_args__ = (
        UniqueConstraint("task_id", "attempt"),
        CheckConstraint(check_in("status", AttemptStatus), name="status_valid"),
    )

    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    worker_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[AttemptStatus] = mapped_column(StrEnumType(AttemptStatus), default=AttemptStatus.RUNNING)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)


class TaskStep(IdMixin, Base):
    """A checkpointed unit of work (an LLM call, a tool call). Completed steps are replayed, never re-run."""

    __tablename__ = "task_steps"
    __table_args__ = (
        UniqueConstraint("task_id", "step_key"),
        Index(None, "task_id", "position"),
        CheckConstraint(check_in("status", StepStatus), name="status_valid"),
    )

    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="CASCADE"))
    step_key: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[StepStatus] = mapped_column(StrEnumType(StepStatus), default=StepStatus.RUNNING)
    attempt: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    input: Mapped[Any | None] = mapped_column(JSONDocument)
    output: Mapped[Any | None] = mapped_column(JSONDocument)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class TaskEvent(CreatedAtMixin, Base):
    """The append-only event log of a task; `seq` increases by one per task and drives SSE resume."""

    __tablename__ = "task_events"
    __table_args__ = (PrimaryKeyConstraint("task_id", "seq"),)

    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class TaskApproval(TenantScoped, IdMixin, Base):
    """A tool call that waits for a human: the exact arguments, and who decided what, when and why.

    Created in the same transaction that parks the task (`store.wait`), so an approver never sees a request
    the task is not yet waiting on; decided in the same transaction that queues the task again.
    """

    __tablename__ = "task_approvals"
    __table_args__ = (
        UniqueConstraint("task_id", "step_key"),
        # The organisation's inbox of pending approvals, oldest first.
        Index(None, "org_id", "status", "requested_at"),
        CheckConstraint(check_in("status", ApprovalStatus), name="status_valid"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="CASCADE"))
    step_key: Mapped[str] = mapped_column(String(255))
    tool: Mapped[str] = mapped_column(String(200))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # Why approval is needed: the tool is gated, or which argument pattern matched.
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[ApprovalStatus] = mapped_column(
        StrEnumType(ApprovalStatus), default=ApprovalStatus.PENDING
    )
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    comment: Mapped[str | None] = mapped_column(String(2000))


class TaskFile(TenantScoped, IdMixin, Base):
    """A file of a task's workspace: given with the task (`in`, read-only to its code) or made by it (`out`).

    Stored in the database, so that any worker on any machine can run the task with its inputs and the
    outputs survive the worker; inputs are capped by `AGENTIC_TOOLS_MAX_INPUT_FILES` / `_MAX_INPUT_BYTES`,
    outputs by the sandbox's limits.
    """

    __tablename__ = "task_files"
    __table_args__ = (
        UniqueConstraint("task_id", "direction", "name"),
        CheckConstraint("direction IN ('in', 'out')", name="direction_valid"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    # The tool step that wrote an output file (the latest one, when several wrote the same name).
    step_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
