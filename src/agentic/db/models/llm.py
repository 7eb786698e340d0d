"""Organisations' LLM provider credentials."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentic.db.base import Base, IdMixin, TimestampMixin
from agentic.db.tenancy import TenantScoped


class ProviderCredential(TenantScoped, IdMixin, TimestampMixin, Base):
    """An organisation's API key for a provider, encrypted at rest; only a short hint is ever shown again."""

    __tablename__ = "provider_credentials"
    __table_args__ = (UniqueConstraint("org_id", "provider", "name"),)

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100), default="default")
    encrypted_api_key: Mapped[str] = mapped_column(Text)
    key_hint: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
