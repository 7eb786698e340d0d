"""Delivers queued webhook messages: signed, retried on the Standard Webhooks schedule, every attempt logged.

Every worker process runs a dispatcher. A message is held by one dispatcher at a time (`locked_until`, taken
with `FOR UPDATE SKIP LOCKED` on PostgreSQL), so several processes share the work without sending a message
twice at once; a dispatcher that dies loses its hold when it expires, and the message is sent again. Delivery
is therefore at least once — receivers deduplicate on the `webhook-id` header, which is the same on every
attempt.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.config import Settings
from agentic.db.models import DeliveryStatus, Webhook, WebhookAttempt, WebhookDelivery
from agentic.db.types import utcnow
from agentic.engine.signals import Signals
from agentic.logging import get_logger
from agentic.security.encryption import DecryptionError, SecretBox
from agentic.tools.http import OutboundRefused, http_request
from agentic.webhooks import signing
from agentic.webhooks.policy import outbound_policy

log = get_logger("agentic.webhooks")

# How long a dispatcher holds a message it is sending; past this another dispatcher may take it.
_HOLD_S = 120.0
_BATCH = 100


def secret_owner(webhook_id: uuid.UUID) -> str:
    """The associated data binding a webhook's encrypted secret to its row."""
    return f"webhook:{webhook_id}"


def message_id(delivery_id: uuid.UUID) -> str:
    """The `webhook-id` of a message: the same on every attempt, so receivers can deduplicate."""
    return f"msg_{delivery_id.hex}"


def body_of(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent (and signed) for a message: compact JSON, the same on every attempt."""
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


class WebhookDispatcher:
    """Sends due messages until stopped; wakes when messages are queued anywhere (signal) or on a poll."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        box: SecretBox,
        signals: Signals,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._box = box
        self._signals = signals
        self._limit = asyncio.Semaphore(settings.webhooks.concurrency)

    async def run(self, stopping: asyncio.Event) -> None:
        """The dispatcher loop (a worker companion)."""
        poll_s = self._settings.webhooks.poll_interval_s
        while not stopping.is_set():
            self._signals.webhooks.clear()  # before reading: a message queued while we read is not missed
            try:
                sent = await self.deliver_due()
            except Exception:
                log.exception("webhooks.dispatch_failed")
                sent = 0
            if sent:
                continue
            waits = [
                asyncio.ensure_future(stopping.wait()),
                asyncio.ensure_future(self._signals.webhooks.wait()),
            ]
            await asyncio.wait(waits, timeout=poll_s, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waits:
                waiter.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    async def deliver_due(self) -> int:
        """Take the messages whose attempt is due and send them concurrently; how many were attempted."""
        ids = await self._take_due()
        if ids:
            await asyncio.gather(*(self._deliver(delivery_id) for delivery_id in ids))
        return len(ids)

    async def _take_due(self) -> list[uuid.UUID]:
        now = utcnow()
        async with self._sessions() as session:
            statement = (
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(_BATCH)
            )
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                statement = statement.with_for_update(skip_locked=True)
            ids = list((await session.scalars(statement)).all())
            if ids:
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_(ids))
                    .values(locked_until=now + dt.timedelta(seconds=_HOLD_S))
                    .execution_options(synchronize_session=False)
                )
            await session.commit()
        return ids

    async def _deliver(self, delivery_id: uuid.UUID) -> None:
        async with self._limit:
            # Read, then let go of the connection while the receiver answers (up to the timeout).
            async with self._sessions() as session:
                delivery = await session.get(WebhookDelivery, delivery_id)
                if delivery is None or delivery.status is not DeliveryStatus.PENDING:
                    return
                webhook = await session.get(Webhook, delivery.webhook_id)
                body = body_of(delivery)
            started = utcnow()
            began = time.monotonic()
            status_code, response_body, error = await self._send(webhook, delivery_id, body)
            duration_ms = int((time.monotonic() - began) * 1000)
            async with self._sessions() as session:
                await self._record(
                    session,
                    delivery_id=delivery_id,
                    usable=webhook is not None and webhook.enabled,
                    attempt=WebhookAttempt(
                        delivery_id=delivery_id,
                        started_at=started,
                        duration_ms=duration_ms,
                        status_code=status_code,
                        response_body=response_body,
                        error=error,
                    ),
                )

    async def _record(
        self, session: AsyncSession, *, delivery_id: uuid.UUID, usable: bool, attempt: WebhookAttempt
    ) -> None:
        """Log the attempt and schedule what comes next: done, another try, or failed for good."""
        delivery = await session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            return  # the webhook was deleted meanwhile (its deliveries with it)
        delivery.attempts += 1
        delivery.attempts_in_round += 1
        attempt.number = delivery.attempts
        session.add(attempt)
        delivery.last_status_code = attempt.status_code
        delivery.last_error = attempt.error
        delivery.locked_until = None
        schedule = self._settings.webhooks.retry_schedule_s
        if attempt.status_code is not None and 200 <= attempt.status_code < 300:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.delivered_at = utcnow()
            delivery.next_attempt_at = None
        elif not usable or delivery.attempts_in_round > len(schedule):
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delay = schedule[delivery.attempts_in_round - 1]
            delivery.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
        await session.commit()
        log.info(
            "webhooks.attempt",
            delivery_id=str(delivery.id),
            webhook_id=str(delivery.webhook_id),
            event_type=delivery.event_type,
            attempt=delivery.attempts,
            status_code=attempt.status_code,
            error=attempt.error,
            outcome=delivery.status.value,
        )

    async def _send(
        self, webhook: Webhook | None, delivery_id: uuid.UUID, body: bytes
    ) -> tuple[int | None, str | None, str | None]:
        """(status code, start of the answer, error) of one attempt; never raises."""
        if webhook is None or not webhook.enabled:
            return None, None, "the webhook was deleted or disabled"
        try:
            secret = self._box.decrypt(webhook.secret_encrypted, owner=secret_owner(webhook.id))
        except DecryptionError:
            return None, None, "the webhook's secret cannot be decrypted (was the secret key changed?)"
        headers = {
            "content-type": "application/json",
            **signing.headers(secret, msg_id=message_id(delivery_id), body=body),
        }
        try:
            result = await http_request(
                outbound_policy(self._settings, webhook.url), "POST", webhook.url, headers=headers, body=body
            )
        except OutboundRefused as exc:
            return None, None, f"{exc.code}: {exc.message}"[:1000]
        except Exception as exc:  # a delivery failure must never take the dispatcher down
            return None, None, type(exc).__name__
        return result.status, result.text[:2000], None
