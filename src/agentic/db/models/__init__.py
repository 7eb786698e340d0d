"""All ORM models; importing this package registers every table on `Base.metadata`."""

from agentic.db.base import Base
from agentic.db.models.agents import Agent, AgentVersion
from agentic.db.models.audit import AuditEvent
from agentic.db.models.auth import AuthSession, EmailToken, EmailTokenPurpose, Invitation
from agentic.db.models.connections import McpServer, SqlConnection
from agentic.db.models.enums import (
    AgentVisibility,
    ApprovalStatus,
    AttemptStatus,
    DeliveryStatus,
    Role,
    StepStatus,
    TaskState,
)
from agentic.db.models.identity import ApiKey, Membership, Organization, User
from agentic.db.models.llm import ProviderCredential
from agentic.db.models.schedules import Schedule
from agentic.db.models.tasks import Task, TaskApproval, TaskAttempt, TaskEvent, TaskFile, TaskStep
from agentic.db.models.usage import UsageRecord
from agentic.db.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "Agent",
    "AgentVersion",
    "AgentVisibility",
    "ApiKey",
    "ApprovalStatus",
    "AttemptStatus",
    "AuditEvent",
    "AuthSession",
    "Base",
    "DeliveryStatus",
    "EmailToken",
    "EmailTokenPurpose",
    "Invitation",
    "McpServer",
    "Membership",
    "Organization",
    "ProviderCredential",
    "Role",
    "Schedule",
    "SqlConnection",
    "StepStatus",
    "Task",
    "TaskApproval",
    "TaskAttempt",
    "TaskEvent",
    "TaskFile",
    "TaskState",
    "TaskStep",
    "UsageRecord",
    "User",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
