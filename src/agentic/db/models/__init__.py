"""All ORM models; importing this package registers every table on `Base.metadata`."""

from agentic.db.base import Base
from agentic.db.models.agents import Agent, AgentVersion
from agentic.db.models.audit import AuditEvent
from agentic.db.models.auth import AuthSession, EmailToken, EmailTokenPurpose, Invitation
from agentic.db.models.enums import AgentVisibility, AttemptStatus, Role, StepStatus, TaskState
from agentic.db.models.identity import ApiKey, Membership, Organization, User
from agentic.db.models.llm import ProviderCredential
from agentic.db.models.schedules import Schedule
from agentic.db.models.tasks import Task, TaskAttempt, TaskEvent, TaskStep
from agentic.db.models.usage import UsageRecord

__all__ = [
    "Agent",
    "AgentVersion",
    "AgentVisibility",
    "ApiKey",
    "AttemptStatus",
    "AuditEvent",
    "AuthSession",
    "Base",
    "EmailToken",
    "EmailTokenPurpose",
    "Invitation",
    "Membership",
    "Organization",
    "ProviderCredential",
    "Role",
    "Schedule",
    "StepStatus",
    "Task",
    "TaskAttempt",
    "TaskEvent",
    "TaskState",
    "TaskStep",
    "UsageRecord",
    "User",
]
