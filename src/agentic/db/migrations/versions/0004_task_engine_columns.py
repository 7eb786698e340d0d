"""Task engine: runner, frozen policy, wall-clock timeout and the per-task event sequence counter.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Server defaults fill the rows that exist already; the application always sets the values itself.
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("runner", sa.String(length=64), nullable=False, server_default="agent"))
        batch.add_column(sa.Column("policy", JSON_DOCUMENT, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("timeout_s", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("last_event_seq", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("last_event_seq")
        batch.drop_column("timeout_s")
        batch.drop_column("policy")
        batch.drop_column("runner")
