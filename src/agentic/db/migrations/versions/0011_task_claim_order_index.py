"""Tasks: a partial index of the queued tasks by agent, in claim order, for bounded claims.

On PostgreSQL a claim ranks only the head of each agent's queue (priority, then age): the agents are found
by a skip scan of this index and each head is read from it with a `LIMIT`, so a claim's cost no longer grows
with the depth of a queue. Partial: only queued tasks are in it, however many finished tasks the table keeps.

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
        "ix_tasks_claim_agent_order",
        "tasks",
        ["agent_id", sa.text("priority DESC"), "run_at", "id"],
        unique=False,
        postgresql_where=sa.text("state = 'queued'"),
        sqlite_where=sa.text("state = 'queued'"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_claim_agent_order", table_name="tasks")
