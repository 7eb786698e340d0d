"""Enumerations stored in the database (as short strings, guarded by CHECK constraints)."""

import enum


class Role(enum.StrEnum):
    """A member's role within one organisation."""

    ADMIN = "admin"
    OPERATOR = "operator"
    USER = "user"


class TaskState(enum.StrEnum):
    """Task lifecycle; the legal transitions are defined once, in the task engine's state machine."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"


class AttemptStatus(enum.StrEnum):
    """How one execution attempt of a task ended."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"
    CANCELLED = "cancelled"
    RELEASED = "released"


class StepStatus(enum.StrEnum):
    """A checkpointed step of a task."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ApprovalStatus(enum.StrEnum):
    """A request for a human to approve a tool call."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"  # nobody decided in time: the default (deny) applied
    CANCELLED = "cancelled"  # the task was cancelled while it waited


class DeliveryStatus(enum.StrEnum):
    """A webhook message's delivery."""

    PENDING = "pending"  # waiting for its next attempt
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # every attempt failed; can be redelivered by hand


class AgentVisibility(enum.StrEnum):
    """Who in the organisation can see an agent."""

    PRIVATE = "private"
    ORG = "org"


def check_in(column: str, values: type[enum.StrEnum]) -> str:
    """SQL for a CHECK constraint that keeps `column` within the enum's values."""
    quoted = ", ".join(f"'{member.value}'" for member in values)
    return f"{column} IN ({quoted})"
