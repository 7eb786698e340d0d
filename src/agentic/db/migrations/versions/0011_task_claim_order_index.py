"""Tasks: a partial index of the queued tasks in claim order, for the claim's bounded window.

A claim ranks only the first queued tasks in the queue's global order (priority, then age), read in that
order with a `LIMIT` from this index, so its cost no longer grows with the depth of the queue. Partial:
only queued tasks are in it, however many finished tasks the table keeps.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tasks_claim_order",
        "tasks",
        [sa.text("priority DESC"), "run_at", "id"],
        unique=False,
        postgresql_where=sa.text("state = 'queued'"),
        sqlite_where=sa.text("state = 'queued'"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_claim_order", table_name="tasks")
