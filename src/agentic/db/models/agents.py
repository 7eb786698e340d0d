"""Agents and their immutable versions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentic.db.base import Base, CreatedAtMixin, IdMixin, TimestampMixin
from agentic.db.models.enums import AgentVisibility, check_in
from agentic.db.tenancy import TenantScoped
from agentic.db.types import JSONDocument, StrEnumType, UTCDateTime


class Agent(TenantScoped, IdMixin, TimestampMixin, Base):
    """An agent: a named, owned, versioned configuration that tasks run."""

    __tablename__ = "agents"
    __table_args__ = (
        Index(None, "org_id", "id"),
        CheckConstraint(check_in("visibility", AgentVisibility), name="visibility_valid"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[AgentVisibility] = mapped_column(
        StrEnumType(AgentVisibility), default=AgentVisibility.ORG
    )
    latest_version: Mapped[int] = mapped_column(Integer, default=1)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AgentVersion(TenantScoped, IdMixin, CreatedAtMixin, Base):
    """An immutable snapshot of an agent's configuration; a task pins the version it ran."""

    __tablename__ = "agent_versions"
    __table_args__ = (UniqueConstraint("agent_id", "version"),)

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
