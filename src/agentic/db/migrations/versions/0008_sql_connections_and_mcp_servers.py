"""Organisations' SQL connections (for sql_query) and MCP servers.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import agentic.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "mcp_servers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("transport", sa.String(length=16), nullable=False),
        sa.Column("command", agentic.db.types.JSONDocument(), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("header_names", agentic.db.types.JSONDocument(), nullable=False),
        sa.Column("env_names", agentic.db.types.JSONDocument(), nullable=False),
        sa.Column("secrets_encrypted", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("tools", agentic.db.types.JSONDocument(), nullable=False),
        sa.Column("discovered_at", agentic.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", agentic.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentic.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("transport IN ('stdio', 'http')", name=op.f("ck_mcp_servers_transport_valid")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_mcp_servers_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_mcp_servers_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_servers")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_mcp_servers_org_id_name")),
    )
    op.create_table(
        "sql_connections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("dsn_redacted", sa.String(length=2048), nullable=False),
        sa.Column("dsn_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", agentic.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentic.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('postgresql', 'sqlite')", name=op.f("ck_sql_connections_kind_valid")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_sql_connections_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_sql_connections_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sql_connections")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_sql_connections_org_id_name")),
    )


def downgrade() -> None:

    op.drop_table("sql_connections")
    op.drop_table("mcp_servers")
