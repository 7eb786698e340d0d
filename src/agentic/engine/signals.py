"""Signals: "there may be work", "cancel this task", "this task has new events" — delivered at once.

The database stays the only source of truth; signals only save the wait for the next poll. A lost signal
costs latency, never a task: every listener also polls, slowly when a transport carries signals between
processes and quickly when none does.

Signals are raised by the store as side notes of a transaction (`note`) and sent only once that transaction
commits (a SQLAlchemy `after_commit` hook), so nobody is woken for a change they cannot see yet. In the
process they are dispatched at once; to other processes they go through Redis pub/sub when Redis is
configured, else PostgreSQL LISTEN/NOTIFY when the database is PostgreSQL, else nowhere (embedded default).
Outgoing signals are batched per event-loop turn: one round trip carries everything raised meanwhile.

A transport that goes away (Redis stopped, the LISTEN connection terminated) costs latency only: sending and
listening never block a request or a worker (every call has a timeout, and sending runs in the background),
the listener reconnects every second, and while the transport is away nothing is sent (no timeout paid per
signal) and `crosses_processes` is false, so listeners that read it poll quickly. One line is logged when it
goes away and one when it is back, not one per failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from agentic.logging import get_logger

log = get_logger("agentic.engine.signals")

WAKE = "agentic_wake"
CANCEL = "agentic_cancel"
EVENTS = "agentic_events"
WEBHOOKS = "agentic_webhooks"  # webhook messages were queued (the dispatcher delivers them)
CHANNELS = (WAKE, CANCEL, EVENTS, WEBHOOKS)

# Keys in `Session.info`: the process's Signals (set by the session factory) and the notes of the transaction.
SIGNALS_KEY = "agentic.signals"
_NOTES_KEY = "agentic.signal_notes"
# Every external call has a timeout; a signal that cannot be sent in this time is dropped (polls catch up).
_SEND_TIMEOUT_S = 2.0

# After a failure, how long sending is skipped before being tried again (the listener, when running, also
# reconnects at this pace and reports the transport back sooner).
_RETRY_S = 1.0

Deliver = Callable[[str, str], None]
_HANDOFFS_KEY = "agentic.handoffs"
_SENT_KEY = "agentic.signals_sent"


class LocalClaimer(Protocol):
    """A worker in this process that can take a new task straight from the transaction that creates it."""

    lease_s: float

    def reserve(self) -> Reservation | None:
        """Hold a free slot for a task being created, or None when there is no free slot."""
        ...

    def release(self) -> None:
        """Give back a slot held by `reserve` (the creating transaction did not commit)."""
        ...

    def hand(self, claimed: Any) -> None:
        """Start a task created already claimed by this worker (called once its transaction committed)."""
        ...


class Reservation:
    """A slot of the local worker held for one task being created; ends exactly once, handed or released."""

    def __init__(self, claimer: LocalClaimer, worker_id: str) -> None:
        self.claimer = claimer
        self.worker_id = worker_id
        self._open = True

    def hand(self, claimed: Any) -> None:
        """The task committed: the worker starts it."""
        if self._open:
            self._open = False
            self.claimer.hand(claimed)

    def release(self) -> None:
        """The task did not commit: the slot is free again (no-op once handed or released)."""
        if self._open:
            self._open = False
            self.claimer.release()


class TransportHealth:
    """Whether a transport carries signals now; logs once when it goes away and once when it is back."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.up: bool | None = None  # None: not known yet (nothing sent or heard so far)
        self._lost_since = 0.0  # when the outage began
        self._lost_at = 0.0  # the latest failure

    def ok(self) -> None:
        """A send or a subscription just worked."""
        if self.up is False:
            log.info(
                "signals.transport_restored",
                transport=self.name,
                down_s=round(time.monotonic() - self._lost_since, 1),
            )
        self.up = True

    def failed(self, exc: BaseException) -> None:
        """A send or the listener just failed."""
        self._lost_at = time.monotonic()
        if self.up is not False:
            self._lost_since = self._lost_at
            log.warning(
                "signals.transport_lost",
                transport=self.name,
                error=_describe(exc),
                fallback="polling",
            )
        self.up = False

    def worth_trying(self) -> bool:
        """False for a moment after a failure: sending now would most likely fail (or time out) again."""
        return self.up is not False or time.monotonic() - self._lost_at >= _RETRY_S


class Transport(Protocol):
    """Carries signals between processes."""

    name: str
    health: TransportHealth

    async def publish(self, batch: dict[str, set[str]]) -> None:
        """Send every payload of every channel."""
        ...

    async def listen(self, deliver: Deliver) -> None:
        """Deliver other processes' signals until cancelled (reconnecting as needed)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class RedisTransport:
    """Redis pub/sub (shares the process's Redis client)."""

    name = "redis"

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self.health = TransportHealth(self.name)

    async def publish(self, batch: dict[str, set[str]]) -> None:
        """One pipelined round trip for the whole batch (two if the first connection was stale)."""
        try:
            await self._publish(batch)
        except RedisConnectionError:
            # After a Redis restart the pool still holds connections the old server closed: the first use
            # of one fails at once, a fresh one works. A signal sent twice is harmless; a lost one costs a
            # poll.
            await self._publish(batch)

    async def _publish(self, batch: dict[str, set[str]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, payloads in batch.items():
                for payload in payloads:
                    pipe.publish(channel, payload)
            await pipe.execute()

    async def listen(self, deliver: Deliver) -> None:
        """Subscribe to every channel; resubscribe after a connection loss."""
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    async with asyncio.timeout(2 * _SEND_TIMEOUT_S):
                        await pubsub.subscribe(*CHANNELS)
                        # Wait for the server's confirmation: a refused or frozen server shows here.
                        if await pubsub.get_message(timeout=_SEND_TIMEOUT_S) is None:
                            raise TimeoutError("Redis did not confirm the subscription")
                    self.health.ok()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            deliver(_text(message["channel"]), _text(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: the polls carry on until it is back
                self.health.failed(exc)
            await asyncio.sleep(_RETRY_S)

    async def aclose(self) -> None:
        """The Redis client belongs to the process's resources, which close it."""


class PostgresTransport:
    """PostgreSQL LISTEN/NOTIFY on two dedicated connections (one listens, one sends)."""

    name = "postgresql"

    def __init__(self, database_url: str) -> None:
        # asyncpg takes a plain libpq URL: drop SQLAlchemy's "+asyncpg" driver suffix.
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._sender: Any = None
        self._lock = asyncio.Lock()
        self.health = TransportHealth(self.name)

    async def publish(self, batch: dict[str, set[str]]) -> None:
        """One statement per channel; NOTIFY payloads are delivered in commit order."""
        async with self._lock:
            if self._sender is None or self._sender.is_closed():
                self._sender = await self._connect()
            try:
                for channel, payloads in batch.items():
                    await self._sender.execute(
                        "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", channel, sorted(payloads)
                    )
            except Exception:
                await self._drop_sender()
                raise

    async def listen(self, deliver: Deliver) -> None:
        """LISTEN on every channel; reconnect when the connection drops."""

        def on_notify(_conn: Any, _pid: int, channel: str, payload: str) -> None:
            deliver(channel, payload)

        while True:
            conn: Any = None
            try:
                conn = await self._connect()
                for channel in CHANNELS:
                    await conn.add_listener(channel, on_notify)
                self.health.ok()
                while not conn.is_closed():
                    await asyncio.sleep(5)
                    async with asyncio.timeout(_SEND_TIMEOUT_S):
                        await conn.execute("SELECT 1")  # notice a dead connection, not just a closed one
                raise ConnectionError("the LISTEN connection was closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.health.failed(exc)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(_RETRY_S)

    async def aclose(self) -> None:
        """Close the sending connection."""
        async with self._lock:
            await self._drop_sender()

    async def _connect(self) -> Any:
        import asyncpg  # noqa: PLC0415  # only processes on PostgreSQL need it

        return await asyncpg.connect(self._dsn, timeout=_SEND_TIMEOUT_S)

    async def _drop_sender(self) -> None:
        if self._sender is not None:
            self._sender.terminate()
            self._sender = None


class Signals:
    """The process's signal hub: local dispatch at once, other processes through the transport."""

    def __init__(self, transport: Transport | None = None) -> None:
        self.transport = transport
        self._work = asyncio.Event()
        # Set when webhook messages were queued anywhere; the webhook dispatcher waits on it.
        self.webhooks = asyncio.Event()
        self._cancel_handlers: list[Callable[[uuid.UUID], None]] = []
        self._event_handlers: list[Callable[[uuid.UUID], None]] = []
        self._outbox: dict[str, set[str]] = defaultdict(set)
        self._flushing: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        # The in-process worker, when there is one (`agentic serve`): new tasks may be handed to it directly.
        self.local_claimer: LocalClaimer | None = None

    @property
    def crosses_processes(self) -> bool:
        """True when other processes hear our signals (so their polls may be slow).

        False while the transport is away: signals then reach this process only, and whoever reads this
        (e.g. a new event stream) polls as quickly as without a transport.
        """
        return self.transport is not None and self.transport.health.up is not False

    # --- raising -----------------------------------------------------------------------------------------

    def emit(self, channel: str, payload: str = "", *, sent: bool = False) -> None:
        """Dispatch a signal here now, and queue it for the other processes (unless it was `sent` already)."""
        self._dispatch(channel, payload)
        if self.transport is None or sent:
            return
        self._outbox[channel].add(payload)
        if self._flushing is None or self._flushing.done():
            with contextlib.suppress(RuntimeError):  # no running loop: nobody else can be listening either
                self._flushing = asyncio.get_running_loop().create_task(self._flush())

    def poke(self) -> None:
        """Wake this process's workers only (a slot became free)."""
        self._work.set()

    async def _flush(self) -> None:
        assert self.transport is not None  # noqa: S101
        health = self.transport.health
        while self._outbox:
            batch, self._outbox = self._outbox, defaultdict(set)
            if not health.worth_trying():
                continue  # the transport is away: drop the batch (a lost signal costs latency, never a task)
            try:
                async with asyncio.timeout(_SEND_TIMEOUT_S):
                    await self.transport.publish(batch)
            except Exception as exc:  # a lost signal costs latency, never a task
                health.failed(exc)
            else:
                health.ok()

    # --- listening ---------------------------------------------------------------------------------------

    async def wait_for_work(self, timeout_s: float) -> None:
        """Return on a wake-up or after `timeout_s`, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), timeout=timeout_s)
        self._work.clear()

    def on_cancel(self, handler: Callable[[uuid.UUID], None]) -> Callable[[], None]:
        """Call `handler(task_id)` when a task's cancellation is requested; returns an unsubscriber."""
        self._cancel_handlers.append(handler)
        return lambda: self._cancel_handlers.remove(handler)

    def on_events(self, handler: Callable[[uuid.UUID], None]) -> Callable[[], None]:
        """Call `handler(task_id)` when a task gets new events; returns an unsubscriber."""
        self._event_handlers.append(handler)
        return lambda: self._event_handlers.remove(handler)

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == WAKE:
            self._work.set()
        elif channel == WEBHOOKS:
            self.webhooks.set()
        elif channel in (EVENTS, CANCEL):
            try:
                task_id = uuid.UUID(payload)
            except ValueError:
                return
            for handler in list(self._event_handlers if channel == EVENTS else self._cancel_handlers):
                handler(task_id)

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen for other processes' signals (no-op without a transport)."""
        if self.transport is not None and self._listener is None:
            self._listener = asyncio.create_task(self.transport.listen(self._dispatch))

    async def stop(self) -> None:
        """Send what is queued, stop listening and close the transport."""
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self.transport is not None:
            await self.transport.aclose()


def note(session: Any, channel: str, payload: str = "") -> None:
    """Raise a signal when the session's transaction commits (dropped if it rolls back)."""
    session.info.setdefault(_NOTES_KEY, []).append((channel, payload))


def note_handoff(session: Any, reservation: Reservation, claimed: Any) -> None:
    """Start `claimed` on the reserved worker when the transaction commits."""
    session.info.setdefault(_HANDOFFS_KEY, []).append((reservation, claimed))


_NOTIFY_MANY = text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p")


@event.listens_for(Session, "before_commit")
def _notify_in_transaction(session: Session) -> None:
    # With PostgreSQL carrying the signals, NOTIFY inside the transaction: PostgreSQL delivers it exactly when
    # the transaction commits (never if it rolls back), with no round trip after the commit.
    signals = session.info.get(SIGNALS_KEY)
    notes = session.info.get(_NOTES_KEY)
    if not notes or not isinstance(signals, Signals) or not isinstance(signals.transport, PostgresTransport):
        return
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    by_channel: dict[str, list[str]] = defaultdict(list)
    for channel, payload in dict.fromkeys(notes):
        by_channel[channel].append(payload)
    for channel, payloads in by_channel.items():
        session.execute(_NOTIFY_MANY, {"channel": channel, "payloads": payloads})
    session.info[_SENT_KEY] = True


@event.listens_for(Session, "after_commit")
def _send_notes(session: Session) -> None:
    for reservation, claimed in session.info.pop(_HANDOFFS_KEY, ()):
        reservation.hand(claimed)
    notes = session.info.pop(_NOTES_KEY, None)
    sent = bool(session.info.pop(_SENT_KEY, False))
    signals = session.info.get(SIGNALS_KEY)
    if notes and isinstance(signals, Signals):
        for channel, payload in dict.fromkeys(notes):  # each distinct signal once, in order
            signals.emit(channel, payload, sent=sent)


@event.listens_for(Session, "after_rollback")
def _drop_notes(session: Session) -> None:
    session.info.pop(_NOTES_KEY, None)
    session.info.pop(_SENT_KEY, None)
    drop_handoffs(session)


def drop_handoffs(session: Any) -> None:
    """The transaction failed: give back the slots of its hand-offs (they were never committed)."""
    for reservation, _claimed in session.info.pop(_HANDOFFS_KEY, ()):
        reservation.release()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
