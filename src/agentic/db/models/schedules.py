"""Cron schedules: an agent run queued on a cron expression."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentic.db.base import Base, IdMixin, TimestampMixin
from agentic.db.tenancy import TenantScoped
from agentic.db.types import JSONDocument, UTCDateTime


class Schedule(TenantScoped, IdMixin, TimestampMixin, Base):
    """Runs an agent with a fixed input whenever its cron expression fires (in its time zone)."""

    __tablename__ = "schedules"
    __table_args__ = (
        # The scheduler: enabled schedules whose next fire time has come.
        Index(None, "enabled", "next_run_at"),
        Index(None, "org_id", "agent_id"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"))
    # Tasks of the schedule are created on behalf of this user; a fire is skipped once they may no longer run
    # tasks in the organisation (no longer a member, or a role without tasks:run).
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    input: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="SET NULL"))
    last_error: Mapped[str | None] = mapped_column(String(500))
