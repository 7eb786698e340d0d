"""Objects for the route matrices: a webhook with one failed delivery; a SQL connection and an MCP server."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Agent, DeliveryStatus, McpServer, SqlConnection, WebhookDelivery
from agentic.resources import Resources
from agentic.services.audit import Actor
from agentic.services.webhooks import create_webhook


async def make_webhook(
    session: AsyncSession, resources: Resources, *, agent: Agent, user_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID]:
    """A webhook of `agent` and one failed delivery of it: their IDs."""
    webhook, _ = await create_webhook(
        session,
        settings=resources.settings,
        box=resources.secret_box,
        agent=agent,
        actor=Actor(user_id=user_id, org_id=agent.org_id),
        url="https://example.com/hook",
        events=["task.succeeded"],
        description="",
        enabled=True,
    )
    delivery = WebhookDelivery(
        org_id=agent.org_id,
        webhook_id=webhook.id,
        event_type="task.succeeded",
        payload={"type": "task.succeeded", "data": {}},
        status=DeliveryStatus.FAILED,
        attempts=1,
        attempts_in_round=1,
        next_attempt_at=None,
    )
    session.add(delivery)
    await session.commit()
    return webhook.id, delivery.id


async def make_tool_connections(
    session: AsyncSession, resources: Resources, *, org_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID]:
    """A SQL connection and an (unreachable) MCP server of the organisation: their IDs."""
    suffix = uuid.uuid4().hex[:8]
    connection = SqlConnection(
        org_id=org_id,
        name=f"db-{suffix}",
        kind="postgresql",
        dsn_redacted="postgresql://r:***@127.0.0.1:5432/x",
        dsn_encrypted=resources.secret_box.encrypt("postgresql://r:x@127.0.0.1:5432/x", owner="sql:none"),
    )
    server = McpServer(org_id=org_id, name=f"mcp-{suffix}", transport="http", url="http://127.0.0.1:9/mcp")
    session.add_all([connection, server])
    await session.commit()
    return connection.id, server.id
