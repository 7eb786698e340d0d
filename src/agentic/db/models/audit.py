"""The append-only audit log."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentic.db.base import Base, CreatedAtMixin, IdMixin
from agentic.db.tenancy import TenantScoped
from agentic.db.types import JSONDocument


class AuditEvent(TenantScoped, IdMixin, CreatedAtMixin, Base):
    """A security or administrative action.

    Deliberately without foreign keys: the record must outlive the users, keys and organisations it names.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(None, "org_id", "id"),
        Index(None, "action"),
    )

    org_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
