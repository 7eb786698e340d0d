"""Tasks: `tries`, the attempts counted against `max_attempts`, apart from the run number `attempt`.

A wait (an approval, a signal) or a graceful release ends a run without using up an attempt. Until now the
engine expressed that by raising `max_attempts` by one, so a task that waited once read "attempt 2 of 4".
`attempt` stays the run number (the fencing token, unique per run); `tries` counts the runs that counted.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("tries", sa.Integer(), nullable=False, server_default="0"))
    # Existing tasks keep their budget exactly: their `max_attempts` already absorbed waits and releases.
    op.execute("UPDATE tasks SET tries = attempt")


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("tries")
