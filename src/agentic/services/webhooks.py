"""Webhooks: create (secret shown once), change, rotate, delete; the delivery log and manual redelivery."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.config import Settings
from agentic.db.models import Agent, DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery
from agentic.db.types import utcnow
from agentic.engine.signals import WEBHOOKS, note
from agentic.errors import Conflict, InvalidInput, NotFound
from agentic.ids import new_id
from agentic.security.encryption import SecretBox
from agentic.services.audit import Actor
from agentic.tools.http import OutboundRefused
from agentic.webhooks import signing
from agentic.webhooks.dispatcher import secret_owner
from agentic.webhooks.policy import check_webhook_url

MAX_WEBHOOKS_PER_AGENT = 20


def _checked_url(settings: Settings, url: str) -> str:
    try:
        return check_webhook_url(settings, url)
    except OutboundRefused as exc:
        raise InvalidInput(
            exc.message, code="invalid_webhook_url", details=[{"loc": ["body", "url"], "reason": exc.code}]
        ) from None


async def list_webhooks(session: AsyncSession, *, agent: Agent) -> list[Webhook]:
    """The agent's webhooks, oldest first."""
    return list(
        (
            await session.scalars(select(Webhook).where(Webhook.agent_id == agent.id).order_by(Webhook.id))
        ).all()
    )


async def get_webhook(session: AsyncSession, *, agent: Agent, webhook_id: uuid.UUID) -> Webhook:
    """One of the agent's webhooks, or `NotFound`."""
    webhook = await session.get(Webhook, webhook_id)
    if webhook is None or webhook.agent_id != agent.id:
        raise NotFound("Webhook not found.")
    return webhook


async def create_webhook(
    session: AsyncSession,
    *,
    settings: Settings,
    box: SecretBox,
    agent: Agent,
    actor: Actor,
    url: str,
    events: list[str],
    description: str,
    enabled: bool,
) -> tuple[Webhook, str]:
    """A new webhook and its signing secret (returned this once; stored encrypted)."""
    checked = _checked_url(settings, url)
    if len(await list_webhooks(session, agent=agent)) >= MAX_WEBHOOKS_PER_AGENT:
        raise Conflict(f"An agent has at most {MAX_WEBHOOKS_PER_AGENT} webhooks.", code="too_many_webhooks")
    webhook_id = new_id()
    secret = signing.new_secret()
    webhook = Webhook(
        id=webhook_id,
        org_id=agent.org_id,
        agent_id=agent.id,
        created_by_id=actor.user_id,
        url=checked,
        events=sorted(set(events)),
        description=description,
        enabled=enabled,
        secret_encrypted=box.encrypt(secret, owner=secret_owner(webhook_id)),
    )
    session.add(webhook)
    actor.audit(
        session,
        "webhook.created",
        target_type="webhook",
        target_id=str(webhook_id),
        details={"agent_id": str(agent.id), "url": checked, "events": webhook.events},
    )
    await session.commit()
    return webhook, secret


async def update_webhook(
    session: AsyncSession, *, settings: Settings, webhook: Webhook, actor: Actor, changes: dict[str, Any]
) -> Webhook:
    """Apply the given fields."""
    if "url" in changes:
        changes["url"] = _checked_url(settings, str(changes["url"]))
    if "events" in changes:
        changes["events"] = sorted(set(changes["events"]))
    for key, value in changes.items():
        setattr(webhook, key, value)
    actor.audit(
        session,
        "webhook.updated",
        target_type="webhook",
        target_id=str(webhook.id),
        details={"fields": sorted(changes)},
    )
    await session.commit()
    await session.refresh(webhook)
    return webhook


async def rotate_secret(session: AsyncSession, *, box: SecretBox, webhook: Webhook, actor: Actor) -> str:
    """Replace the signing secret; the new one is returned this once. Messages sent from now use it."""
    secret = signing.new_secret()
    webhook.secret_encrypted = box.encrypt(secret, owner=secret_owner(webhook.id))
    actor.audit(session, "webhook.secret_rotated", target_type="webhook", target_id=str(webhook.id))
    await session.commit()
    await session.refresh(webhook)
    return secret


async def delete_webhook(session: AsyncSession, *, webhook: Webhook, actor: Actor) -> None:
    """Delete the webhook and its delivery log."""
    await session.delete(webhook)
    actor.audit(session, "webhook.deleted", target_type="webhook", target_id=str(webhook.id))
    await session.commit()


async def list_deliveries(
    session: AsyncSession,
    *,
    webhook: Webhook,
    status: DeliveryStatus | None,
    limit: int,
    before_id: uuid.UUID | None,
) -> list[WebhookDelivery]:
    """The webhook's delivery log, newest first."""
    statement = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if status is not None:
        statement = statement.where(WebhookDelivery.status == status)
    if before_id is not None:
        statement = statement.where(WebhookDelivery.id < before_id)
    return list((await session.scalars(statement)).all())


async def get_delivery(
    session: AsyncSession, *, webhook: Webhook, delivery_id: uuid.UUID
) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    """A delivery of the webhook and its attempts in order."""
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook.id:
        raise NotFound("Delivery not found.")
    attempts = (
        await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id)
            .order_by(WebhookAttempt.number)
        )
    ).all()
    return delivery, list(attempts)


async def redeliver(
    session: AsyncSession, *, webhook: Webhook, delivery_id: uuid.UUID, actor: Actor
) -> WebhookDelivery:
    """Send a message again now, with a fresh retry schedule (same `webhook-id`, so receivers can dedupe)."""
    delivery, _ = await get_delivery(session, webhook=webhook, delivery_id=delivery_id)
    if delivery.status is DeliveryStatus.PENDING and delivery.attempts_in_round == 0:
        raise Conflict("The message has not been attempted yet.", code="delivery_pending")
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts_in_round = 0
    delivery.next_attempt_at = utcnow()
    delivery.locked_until = None
    actor.audit(
        session,
        "webhook.redelivered",
        target_type="webhook",
        target_id=str(webhook.id),
        details={"delivery_id": str(delivery.id)},
    )
    note(session, WEBHOOKS)
    await session.commit()
    await session.refresh(delivery)
    return delivery
