"""Alembic environment. Migrations always run on a connection handed in by `agentic.db.migrate`."""

from alembic import context

from agentic.db.migrate import configure_context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `agentic db upgrade|downgrade` (agentic.db.migrate)")
if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; use `agentic db upgrade`")

context.configure(**configure_context(connection))
with context.begin_transaction():
    context.run_migrations()
