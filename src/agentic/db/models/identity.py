"""Organisations (tenants), users, memberships and API keys."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from agentic.db.base import Base, IdMixin, TimestampMixin
from agentic.db.models.enums import Role, check_in
from agentic.db.tenancy import TenantScoped
from agentic.db.types import JSONDocument, StrEnumType, UTCDateTime


class Organization(IdMixin, TimestampMixin, Base):
    """A tenant. Every tenant-owned row carries its `org_id`; billing metadata lives here."""

    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # Billing metadata (plan §16): the plan, who gets invoices, an external billing reference and quotas.
    plan: Mapped[str] = mapped_column(String(32), default="free")
    billing_email: Mapped[str | None] = mapped_column(String(320))
    billing_customer_ref: Mapped[str | None] = mapped_column(String(255))
    monthly_token_quota: Mapped[int | None] = mapped_column(BigInteger)
    monthly_cost_limit_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class User(IdMixin, TimestampMixin, Base):
    """A person who signs in. Emails are stored normalised (lower-case) so uniqueness is case-insensitive."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_platform_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Membership(TenantScoped, IdMixin, TimestampMixin, Base):
    """A user's role in one organisation."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("org_id", "user_id"),
        Index(None, "user_id"),
        CheckConstraint(check_in("role", Role), name="role_valid"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(StrEnumType(Role))


class ApiKey(TenantScoped, IdMixin, TimestampMixin, Base):
    """A programmatic credential. Only a hash of the secret is stored; `prefix` identifies it in lists."""

    __tablename__ = "api_keys"
    __table_args__ = (Index(None, "org_id", "created_by_id"),)

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    created_by_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # On rotation the new key points at the one it replaced; the old one keeps working until its expiry.
    rotated_from_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("api_keys.id", ondelete="SET NULL")
    )
