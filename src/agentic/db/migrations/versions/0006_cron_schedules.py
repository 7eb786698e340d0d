"""Cron schedules: agent runs queued on a cron expression.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 02:57:05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import agentic.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("cron", sa.String(length=120), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("input", agentic.db.types.JSONDocument(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", agentic.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", agentic.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_task_id", sa.Uuid(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", agentic.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentic.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_schedules_agent_id_agents"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_schedules_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["last_task_id"], ["tasks.id"], name=op.f("fk_schedules_last_task_id_tasks"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_schedules_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_schedules_enabled_next_run_at"), ["enabled", "next_run_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_schedules_org_id_agent_id"), ["org_id", "agent_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedules_org_id_agent_id"))
        batch_op.drop_index(batch_op.f("ix_schedules_enabled_next_run_at"))

    op.drop_table("schedules")
