"""An agent's webhooks: signed task events, the delivery log, redelivery. Managed by the agent's editors."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from agentic.api.deps import ResourcesDep, SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import Principal, require
from agentic.db.models import Agent, DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery
from agentic.errors import InvalidInput, PermissionDenied
from agentic.schemas.common import error_responses
from agentic.schemas.webhooks import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    DeliveryPage,
    WebhookCreate,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)
from agentic.security.permissions import Permission
from agentic.services import agents as agents_service
from agentic.services import webhooks as service
from agentic.webhooks.dispatcher import message_id

router = APIRouter(prefix=f"{API_PREFIX}/agents/{{agent_id}}/webhooks", tags=["webhooks"])

# Webhooks are part of an agent's configuration (and their URLs and logs may be sensitive): reading them
# needs the same right as changing the agent.
Editor = Annotated[Principal, require(Permission.AGENTS_WRITE)]


async def _editable_agent(session: SessionDep, principal: Principal, agent_id: uuid.UUID) -> Agent:
    viewer = agents_service.Viewer(
        user_id=principal.user_id, sees_all=principal.can(Permission.AGENTS_MANAGE)
    )
    agent = await agents_service.get_agent(session, agent_id=agent_id, viewer=viewer)
    if agent.owner_id != principal.user_id and not principal.can(Permission.AGENTS_MANAGE):
        raise PermissionDenied("Only the agent's owner or an agent manager can manage its webhooks.")
    return agent


def _out(webhook: Webhook) -> WebhookOut:
    return WebhookOut(
        id=webhook.id,
        agent_id=webhook.agent_id,
        url=webhook.url,
        events=list(webhook.events),
        description=webhook.description,
        enabled=webhook.enabled,
        created_by_id=webhook.created_by_id,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
    )


def _with_secret(webhook: Webhook, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret(**_out(webhook).model_dump(), secret=secret)


def _delivery_fields(delivery: WebhookDelivery) -> dict[str, object]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "message_id": message_id(delivery.id),
        "task_id": delivery.task_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "delivered_at": delivery.delivered_at,
    }


def _detail(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryDetail:
    return DeliveryDetail.model_validate(
        {
            **_delivery_fields(delivery),
            "payload": delivery.payload,
            "attempt_log": [
                AttemptOut(
                    number=a.number,
                    started_at=a.started_at,
                    duration_ms=a.duration_ms,
                    status_code=a.status_code,
                    response_body=a.response_body,
                    error=a.error,
                )
                for a in attempts
            ],
        }
    )


@router.get("", responses=error_responses(403, 404), summary="An agent's webhooks")
async def list_webhooks(agent_id: uuid.UUID, principal: Editor, session: SessionDep) -> list[WebhookOut]:
    """Oldest first; secrets are never listed."""
    agent = await _editable_agent(session, principal, agent_id)
    return [_out(w) for w in await service.list_webhooks(session, agent=agent)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 404, 409, 422),
    summary="Add a webhook (its signing secret is in this response only)",
)
async def create_webhook(
    agent_id: uuid.UUID, body: WebhookCreate, principal: Editor, session: SessionDep, resources: ResourcesDep
) -> WebhookWithSecret:
    """The URL passes the SSRF policy (loopback only in dev and test; https in production)."""
    agent = await _editable_agent(session, principal, agent_id)
    webhook, secret = await service.create_webhook(
        session,
        settings=resources.settings,
        box=resources.secret_box,
        agent=agent,
        actor=principal.actor(),
        url=body.url,
        events=list(body.events),
        description=body.description,
        enabled=body.enabled,
    )
    return _with_secret(webhook, secret)


@router.get("/{webhook_id}", responses=error_responses(403, 404), summary="A webhook")
async def get_webhook(
    agent_id: uuid.UUID, webhook_id: uuid.UUID, principal: Editor, session: SessionDep
) -> WebhookOut:
    """Without its secret."""
    agent = await _editable_agent(session, principal, agent_id)
    return _out(await service.get_webhook(session, agent=agent, webhook_id=webhook_id))


@router.patch("/{webhook_id}", responses=error_responses(403, 404, 422), summary="Change a webhook")
async def update_webhook(
    agent_id: uuid.UUID,
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    principal: Editor,
    session: SessionDep,
    resources: ResourcesDep,
) -> WebhookOut:
    """The fields given replace the current ones."""
    agent = await _editable_agent(session, principal, agent_id)
    webhook = await service.get_webhook(session, agent=agent, webhook_id=webhook_id)
    changes = body.model_dump(exclude_unset=True)
    for key in ("url", "events", "enabled", "description"):
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} cannot be null.", details=[{"loc": ["body", key]}])
    updated = await service.update_webhook(
        session, settings=resources.settings, webhook=webhook, actor=principal.actor(), changes=changes
    )
    return _out(updated)


@router.post(
    "/{webhook_id}/rotate-secret",
    responses=error_responses(403, 404),
    summary="Replace the signing secret (the new one is in this response only)",
)
async def rotate_secret(
    agent_id: uuid.UUID,
    webhook_id: uuid.UUID,
    principal: Editor,
    session: SessionDep,
    resources: ResourcesDep,
) -> WebhookWithSecret:
    """Messages sent from now on are signed with the new secret."""
    agent = await _editable_agent(session, principal, agent_id)
    webhook = await service.get_webhook(session, agent=agent, webhook_id=webhook_id)
    secret = await service.rotate_secret(
        session, box=resources.secret_box, webhook=webhook, actor=principal.actor()
    )
    return _with_secret(webhook, secret)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
    summary="Delete a webhook and its delivery log",
)
async def delete_webhook(
    agent_id: uuid.UUID, webhook_id: uuid.UUID, principal: Editor, session: SessionDep
) -> None:
    """Messages not yet delivered are dropped."""
    agent = await _editable_agent(session, principal, agent_id)
    webhook = await service.get_webhook(session, agent=agent, webhook_id=webhook_id)
    await service.delete_webhook(session, webhook=webhook, actor=principal.actor())


@router.get(
    "/{webhook_id}/deliveries", responses=error_responses(403, 404, 422), summary="A webhook's delivery log"
)
async def list_deliveries(
    agent_id: uuid.UUID,
    webhook_id: uuid.UUID,
    principal: Editor,
    session: SessionDep,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> DeliveryPage:
    """Newest first."""
    agent = await _editable_agent(session, principal, agent_id)
    webhook = await service.get_webhook(session, agent=agent, webhook_id=webhook_id)
    try:
        before = uuid.UUID(cursor) if cursor else None
    except ValueError:
        raise InvalidInput("Invalid cursor.", details=[{"loc": ["query", "cursor"]}]) from None
    items = await service.list_deliveries(
        session, webhook=webhook, status=status, limit=limit, before_id=before
    )
    return DeliveryPage(
        items=[DeliveryOut.model_validate(_delivery_fields(d)) for d in items],
        next_cursor=str(items[-1].id) if len(items) == limit else None,
    )


@router.get(
    "/{webhook_id}/deliveries/{delivery_id}",
    responses=error_responses(403, 404),
    summary="A delivery: its payload and every attempt",
)
async def get_delivery(
    agent_id: uuid.UUID, webhook_id: uuid.UUID, delivery_id: uuid.UUID, principal: Editor, session: SessionDep
) -> DeliveryDetail:
    """Attempts in order, with the receiver's status code and the start of its answer, or the error."""
    agent = await _editable_agent(session, principal, agent_id)
    webhook = await service.get_webhook(session, agent=agent, webhook_id=webhook_id)
    delivery, attempts = await service.get_delivery(session, webhook=webhook, delivery_id=delivery_id)
    return _detail(delivery, attempts)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(403, 404, 409),
    summary="Send a message again",
)
async def redeliver(
    agent_id: uuid.UUID, webhook_id: uuid.UUID, delivery_id: uuid.UUID, principal: Editor, session: SessionDep
) -> DeliveryOut:
    """Queued now with a fresh retry schedule; the `webhook-id` stays the same."""
    agent = await _editable_agent(session, principal, agent_id)
    webhook = await service.get_webhook(session, agent=agent, webhook_id=webhook_id)
    delivery = await service.redeliver(
        session, webhook=webhook, delivery_id=delivery_id, actor=principal.actor()
    )
    return DeliveryOut.model_validate(_delivery_fields(delivery))
