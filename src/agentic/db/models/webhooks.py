"""Webhooks: an agent's task events POSTed to a URL, signed, delivered durably, every attempt logged."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentic.db.base import Base, IdMixin, TimestampMixin
from agentic.db.models.enums import DeliveryStatus, check_in
from agentic.db.tenancy import TenantScoped
from agentic.db.types import JSONDocument, StrEnumType, UTCDateTime, utcnow


class Webhook(TenantScoped, IdMixin, TimestampMixin, Base):
    """An endpoint subscribed to some of an agent's task events."""

    __tablename__ = "webhooks"
    __table_args__ = (Index(None, "agent_id"),)

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    # Event types (`task.succeeded`, …) this endpoint receives.
    events: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The signing secret (`whsec_…`), encrypted at rest; shown once, when created or rotated.
    secret_encrypted: Mapped[str] = mapped_column(Text)


class WebhookDelivery(TenantScoped, IdMixin, Base):
    """One message to one webhook. Its id is the `webhook-id` header: the same on every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The dispatcher: pending messages whose next attempt is due.
        Index(None, "status", "next_attempt_at"),
        # A webhook's delivery log, newest first.
        Index(None, "webhook_id", "id"),
        CheckConstraint(check_in("status", DeliveryStatus), name="status_valid"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    webhook_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhooks.id", ondelete="CASCADE"))
    task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("tasks.id", ondelete="SET NULL"))
    event_type: Mapped[str] = mapped_column(String(64))
    # The exact body sent on every attempt (the signature covers it).
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    status: Mapped[DeliveryStatus] = mapped_column(
        StrEnumType(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Attempts counted against the retry schedule since the message was (re)queued.
    attempts_in_round: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    # A dispatcher holds a message while it sends it; a crashed dispatcher's hold expires.
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(IdMixin, Base):
    """One HTTP attempt of a delivery: what the receiver answered, or why it could not be reached."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "delivery_id", "number"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer)
    # The start of the receiver's answer (capped), or the connection error.
    response_body: Mapped[str | None] = mapped_column(String(2000))
    error: Mapped[str | None] = mapped_column(String(1000))
