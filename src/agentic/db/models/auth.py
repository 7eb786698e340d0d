"""Authentication state: login sessions, single-use email tokens and organisation invitations.

Every secret (session and refresh tokens, email tokens, invitation tokens) is stored only as a keyed hash
(HMAC-SHA256 with a pepper derived from the secret key): a copy of the database alone cannot be replayed.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentic.db.base import Base, CreatedAtMixin, IdMixin
from agentic.db.models.enums import Role, check_in
from agentic.db.tenancy import TenantScoped
from agentic.db.types import StrEnumType, UTCDateTime

TOKEN_HASH_LENGTH = 64  # hex of HMAC-SHA256


class EmailTokenPurpose(enum.StrEnum):
    """What a mailed token allows."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105  # a purpose name, not a password


class AuthSession(IdMixin, CreatedAtMixin, Base):
    """One login. Holds the current access and refresh token hashes; both rotate on refresh.

    The previous refresh token's hash is kept so that its reuse (a sign of theft) revokes the session.
    """

    __tablename__ = "auth_sessions"
    __table_args__ = (Index(None, "user_id"), Index(None, "previous_refresh_hash"))

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    access_token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH), unique=True)
    access_expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    refresh_token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH), unique=True)
    refresh_expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    previous_refresh_hash: Mapped[str | None] = mapped_column(String(TOKEN_HASH_LENGTH))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # absolute end, whatever the refreshes
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))


class EmailToken(IdMixin, CreatedAtMixin, Base):
    """A single-use, expiring token sent by mail (email verification, password reset)."""

    __tablename__ = "email_tokens"
    __table_args__ = (
        Index(None, "user_id", "purpose"),
        CheckConstraint(check_in("purpose", EmailTokenPurpose), name="purpose_valid"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[EmailTokenPurpose] = mapped_column(StrEnumType(EmailTokenPurpose, length=32))
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH), unique=True)
    # The address the token was sent to: if the user's email changes, the token no longer applies.
    email: Mapped[str] = mapped_column(String(320))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Invitation(TenantScoped, IdMixin, CreatedAtMixin, Base):
    """An invitation to join an organisation with a role, accepted by the user who owns the address."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index(None, "org_id", "email"),
        CheckConstraint(check_in("role", Role), name="role_valid"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(StrEnumType(Role))
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH), unique=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
