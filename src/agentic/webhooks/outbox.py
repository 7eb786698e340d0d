"""The webhook outbox: messages written in the same transaction as the task change they announce.

A task that succeeds commits its state and the messages to its agent's webhooks together, so a message is
never sent for a change that rolled back, and never lost for one that committed. The dispatcher
(`agentic.webhooks.dispatcher`) delivers them afterwards, with retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Task, Webhook, WebhookDelivery
from agentic.db.types import utcnow
from agentic.engine.signals import WEBHOOKS, note

# The events a webhook can subscribe to.
EVENT_TYPES = (
    "task.succeeded",
    "task.failed",  # failed for good, or dead (attempts exhausted): `data.state` tells which
    "task.cancelled",
    "task.waiting_for_approval",
)
# Output larger than this is left out of the message (`output_truncated`); the API has the whole task.
_MAX_OUTPUT_CHARS = 64_000


def task_data(*, state: str, output: Any = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event-specific part of a task message."""
    data: dict[str, Any] = {"state": state}
    if output is not None:
        text = repr(output) if not isinstance(output, (dict, list, str, int, float, bool)) else None
        size = len(text) if text is not None else len(str(output))
        if size <= _MAX_OUTPUT_CHARS:
            data["output"] = output
        else:
            data["output_truncated"] = True
    if error is not None:
        data["error"] = error
    return data


async def task_events(session: AsyncSession, events: Sequence[tuple[uuid.UUID, str, dict[str, Any]]]) -> int:
    """Queue a message for every enabled webhook subscribed to each (task, event type, data); how many.

    Runs inside the caller's transaction. One query finds the webhooks of all the tasks' agents: a worker
    completing a batch of tasks pays one indexed lookup, not one per task.
    """
    if not events:
        return 0
    task_ids = list({task_id for task_id, _, _ in events})
    rows = (
        await session.execute(
            select(Task.id, Task.agent_id, Webhook.id, Webhook.org_id, Webhook.events)
            .join(Webhook, Webhook.agent_id == Task.agent_id)
            .where(Task.id.in_(task_ids), Webhook.enabled.is_(True))
        )
    ).all()
    if not rows:
        return 0
    by_task: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        by_task.setdefault(row[0], []).append(row)
    now = utcnow()
    queued = 0
    for task_id, event_type, data in events:
        for _, agent_id, webhook_id, org_id, subscribed in by_task.get(task_id, []):
            if event_type not in (subscribed or []):
                continue
            payload = {
                "type": event_type,
                "timestamp": now.isoformat(),
                "data": {"task_id": str(task_id), "agent_id": str(agent_id), **data},
            }
            session.add(
                WebhookDelivery(
                    org_id=org_id,
                    webhook_id=webhook_id,
                    task_id=task_id,
                    event_type=event_type,
                    payload=payload,
                    next_attempt_at=now,
                )
            )
            queued += 1
    if queued:
        note(session, WEBHOOKS)
    return queued
