"""What an organisation connects its agents to: databases for `sql_query`, MCP servers for their tools."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from agentic.db.base import Base, IdMixin, TimestampMixin
from agentic.db.tenancy import TenantScoped
from agentic.db.types import JSONDocument, UTCDateTime


class SqlConnection(TenantScoped, IdMixin, TimestampMixin, Base):
    """A database agents may query read-only; its DSN (with the password) is encrypted at rest."""

    __tablename__ = "sql_connections"
    __table_args__ = (
        UniqueConstraint("org_id", "name"),
        CheckConstraint("kind IN ('postgresql', 'sqlite')", name="kind_valid"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[str] = mapped_column(String(16))
    # The DSN with its password replaced by ***: what the API shows.
    dsn_redacted: Mapped[str] = mapped_column(String(2048))
    dsn_encrypted: Mapped[str] = mapped_column(Text)


class McpServer(TenantScoped, IdMixin, TimestampMixin, Base):
    """An MCP server whose tools agents may call: a stdio command or a streamable-HTTP URL."""

    __tablename__ = "mcp_servers"
    __table_args__ = (
        UniqueConstraint("org_id", "name"),
        CheckConstraint("transport IN ('stdio', 'http')", name="transport_valid"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id", ondelete="CASCADE"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500), default="")
    transport: Mapped[str] = mapped_column(String(16))
    # stdio: the command and its arguments; http: the URL.
    command: Mapped[list[str] | None] = mapped_column(JSONDocument)
    url: Mapped[str | None] = mapped_column(String(2048))
    # Header names and environment variable names (shown); their values are in `secrets_encrypted`.
    header_names: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    env_names: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The tools the server offered when last asked (name, description, input schema).
    tools: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    discovered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
