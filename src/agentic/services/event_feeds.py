"""Live event feeds: one reader per process serves every event stream, holding no connection while it waits.

An event stream used to read the database itself — on every signal and every poll interval, for as long as
it was open — and the request's session kept a pooled connection for the life of the stream. A few dozen
followers exhausted the pool, and with it task creation and the runners. Here one reader task per process
does the reading for all of them:

- It wakes when a task that someone follows gets new events (a signal from this process, or from another one
  through Redis or PostgreSQL NOTIFY), and also every poll interval in case a signal was lost.
- It reads with short transactions: first the heads of the woken tasks (state and `last_event_seq`, one
  primary-key lookup each, batched), then only the new events of the tasks whose head moved, each bounded by
  that head. Reading the head *before* the events is what guarantees a stream its terminal event: the event
  that finishes a task is committed with the state change, so once a finished state is read, every event up
  to the head read with it is visible to the next query.
- It hands each follower the events after its own position; a follower that resumes from an old
  `Last-Event-ID` is caught up the same way, a page at a time.

A follower waits on an in-memory event, costing no connection and no query however long the task runs: with
thousands of followers, a poll is one query per few hundred of them, and a new event costs one query for all
the tasks that changed meanwhile.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.db.engine import database_fault
from agentic.db.models import TaskEvent, TaskState
from agentic.engine.signals import Signals
from agentic.engine.states import TERMINAL
from agentic.logging import get_logger
from agentic.services import tasks as tasks_service

log = get_logger("agentic.streams")

# Poll intervals: quick when no transport tells this process about other processes' events (a standalone
# worker on the embedded database), slow when one does (the poll only covers lost signals).
POLL_S = 0.2
SIGNALLED_POLL_S = 2.0
# Tasks per query (an IN list of heads, an OR of per-task ranges of events).
_BATCH = 200
# Events per task per read: a follower resuming far behind is caught up a page at a time.
PAGE = 500
# A follower whose client reads slowly gets no more than this queued; the feed pages on once it drains.
_MAX_QUEUED = 2 * PAGE
# After a failed read (database restarting, pool saturated), wait before reading again.
_RETRY_S = 0.5
# The keep-alive sweep looks at the followers this often, relative to the shortest keep-alive interval.
_SWEEPS_PER_KEEPALIVE = 4
_MIN_SWEEP_S = 0.05
_IDLE_SWEEP_S = 1.0


def _finished(state: TaskState | None) -> bool:
    # A task that is gone, finished, or dead: its stream ends once every event was delivered.
    return state is None or state in TERMINAL or state is TaskState.DEAD


@dataclass(eq=False, slots=True)
class _Follower:
    """One open stream: its position, what is queued for it, and the event its stream waits on."""

    last: int
    keepalive_s: float
    # When it last yielded (loop time); the keep-alive sweep asks for a keep-alive once it is too long ago.
    quiet_since: float
    queue: deque[TaskEvent] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    done: bool = False
    ping: bool = False

    def full(self) -> bool:
        return len(self.queue) >= _MAX_QUEUED


@dataclass(eq=False, slots=True)
class _Feed:
    """The followers of one task."""

    followers: set[_Follower] = field(default_factory=set)

    def floor(self) -> int | None:
        """The lowest position among followers that can take more events (None: none can now)."""
        open_ = [f.last for f in self.followers if not f.done and not f.full()]
        return min(open_) if open_ else None


class EventFeeds:
    """The process's live event reader; `follow` yields a task's events as they are committed.

    Args:
        sessions: Session factory (each read is one short transaction).
        signals: The process's signal hub (new-event signals wake the reader).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], signals: Signals) -> None:
        self._sessions = sessions
        self._signals = signals
        self._feeds: dict[uuid.UUID, _Feed] = {}
        self._dirty: set[uuid.UUID] = set()
        self._wake = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def followers(self) -> int:
        """Open streams in this process."""
        return sum(len(feed.followers) for feed in self._feeds.values())

    async def follow(
        self, task_id: uuid.UUID, *, after_seq: int, keepalive_s: float
    ) -> AsyncIterator[list[TaskEvent]]:
        """Batches of the task's events after `after_seq`, in order, until it finished and all are sent.

        An empty batch is yielded after `keepalive_s` without events (the stream sends a keep-alive then).
        """
        self._start()
        loop = asyncio.get_running_loop()
        follower = _Follower(last=after_seq, keepalive_s=keepalive_s, quiet_since=loop.time())
        feed = self._feeds.setdefault(task_id, _Feed())
        feed.followers.add(follower)
        self._mark([task_id])
        try:
            while True:
                follower.wake.clear()  # before looking: a hand-over while we yield is not lost
                if follower.queue:
                    was_full = follower.full()
                    batch = list(follower.queue)
                    follower.queue.clear()
                    if was_full:
                        self._mark([task_id])  # it can take more now: page on
                    follower.quiet_since = loop.time()
                    yield batch
                    continue
                if follower.done:
                    return
                if follower.ping:
                    follower.ping = False
                    follower.quiet_since = loop.time()
                    yield []
                    continue
                # No timeout per wait: with thousands of streams, arming and disarming one around every
                # event was a tenth of the delivery's CPU. One sweep per process asks for keep-alives.
                await follower.wake.wait()
        finally:
            feed.followers.discard(follower)
            if not feed.followers and self._feeds.get(task_id) is feed:
                del self._feeds[task_id]

    async def aclose(self) -> None:
        """Stop the reader (open streams end with the server)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in (self._reader, self._sweeper):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._reader = self._sweeper = None

    # --- the reader ----------------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._reader is None or self._reader.done():
            if self._unsubscribe is None:
                self._unsubscribe = self._signals.on_events(self._signalled)
            self._reader = asyncio.create_task(self._run(), name="event-feeds")
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="event-feeds-keepalive")

    async def _sweep(self) -> None:
        """Ask every follower that has yielded nothing for its keep-alive interval for a keep-alive."""
        loop = asyncio.get_running_loop()
        while True:
            shortest = min(
                (f.keepalive_s for feed in self._feeds.values() for f in feed.followers), default=None
            )
            pause = _IDLE_SWEEP_S if shortest is None else shortest / _SWEEPS_PER_KEEPALIVE
            await asyncio.sleep(max(_MIN_SWEEP_S, pause))
            now = loop.time()
            for feed in self._feeds.values():
                for follower in feed.followers:
                    if not follower.ping and now - follower.quiet_since >= follower.keepalive_s:
                        follower.ping = True
                        follower.wake.set()

    def _signalled(self, task_id: uuid.UUID) -> None:
        if task_id in self._feeds:
            self._mark([task_id])

    def _mark(self, task_ids: Iterable[uuid.UUID]) -> None:
        self._dirty.update(task_ids)
        self._wake.set()

    def _poll_s(self) -> float:
        return SIGNALLED_POLL_S if self._signals.crosses_processes else POLL_S

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._poll_s()):
                    await self._wake.wait()
            except TimeoutError:
                self._dirty.update(self._feeds)  # the poll: a signal may have been lost
            self._wake.clear()
            due, self._dirty = [t for t in self._dirty if t in self._feeds], set()
            try:
                for start in range(0, len(due), _BATCH):
                    await self._read(due[start : start + _BATCH])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Nothing is lost: the tasks stay due and are read again once the database answers.
                fault = database_fault(exc)
                if fault is None:
                    log.exception("streams.read_failed")
                else:
                    log.warning("streams.read_deferred", fault=fault.value)
                self._mark(due)
                await asyncio.sleep(_RETRY_S)

    async def _read(self, task_ids: list[uuid.UUID]) -> None:
        async with self._sessions() as session:
            # Heads first (see the module docstring): every event up to a head is visible to the next query.
            heads = await tasks_service.event_heads(session, task_ids=task_ids)
            ranges: dict[uuid.UUID, tuple[int, int]] = {}
            for task_id in task_ids:
                feed = self._feeds.get(task_id)
                floor = feed.floor() if feed is not None else None
                head = heads.get(task_id)
                if floor is not None and head is not None and head[1] > floor:
                    ranges[task_id] = (floor, min(head[1], floor + PAGE))
            events = await tasks_service.events_in_ranges(session, ranges=ranges) if ranges else []
        by_task: dict[uuid.UUID, list[TaskEvent]] = {}
        for event in events:
            by_task.setdefault(event.task_id, []).append(event)
        for task_id in task_ids:
            feed = self._feeds.get(task_id)
            if feed is None:
                continue
            state, head_seq = heads.get(task_id, (None, 0))
            if task_id in ranges:
                low, high = ranges[task_id]
                self._deliver(feed, by_task.get(task_id, []), low=low, through=high)
            behind = [f for f in feed.followers if not f.done and f.last < head_seq]
            if any(not f.full() for f in behind):
                self._dirty.add(task_id)  # more than a page behind: read on at once
                self._wake.set()
            if _finished(state):
                for follower in feed.followers:
                    if not follower.done and follower.last >= head_seq:
                        follower.done = True
                        follower.wake.set()

    @staticmethod
    def _deliver(feed: _Feed, events: list[TaskEvent], *, low: int, through: int) -> None:
        """Queue for each follower the events after its position, from the range (`low`, `through`] read."""
        for follower in feed.followers:
            if follower.done or follower.full():
                continue  # a full follower keeps its position: the feed pages on from it once it drains
            if follower.last < low:
                # It joined (or drained) while the range was read: events before `low` are not in hand, so it
                # keeps its position and the next read, already due, starts from it.
                continue
            fresh = [e for e in events if e.seq > follower.last]
            if fresh:
                follower.queue.extend(fresh)
                follower.wake.set()
            # Every event up to `through` was read (numbers are gap-free): never read the same range again.
            follower.last = max(follower.last, through)
