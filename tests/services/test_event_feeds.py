"""Live event feeds: every event once and in order, the terminal event always last, no connection held."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.config import Settings
from agentic.db.engine import create_engine, create_session_factory
from agentic.db.models import Task, TaskEvent, TaskState
from agentic.engine import store
from agentic.engine.signals import SIGNALS_KEY, Signals
from agentic.services import event_feeds
from agentic.services import tasks as tasks_service
from agentic.services.event_feeds import EventFeeds
from tests.support.engine import seed_agent

pytestmark = pytest.mark.usefixtures("backend")


@dataclass
class Harness:
    sessions: async_sessionmaker[AsyncSession]  # the feeds' pool of one connection
    writers: async_sessionmaker[AsyncSession]  # the tests' writers: a pool of their own
    signals: Signals
    feeds: EventFeeds
    ids: dict[str, uuid.UUID]

    async def task(self) -> uuid.UUID:
        async with self.writers() as session:
            task = await store.enqueue(
                session,
                org_id=self.ids["org_id"],
                agent_id=self.ids["agent_id"],
                agent_version_id=self.ids["agent_version_id"],
                input={},
            )
            await session.execute(update(Task).where(Task.id == task.id).values(state=TaskState.RUNNING))
            await session.commit()
            return task.id

    async def append(self, task_id: uuid.UUID, count: int = 1, *, finish: TaskState | None = None) -> None:
        """`count` events in one transaction; with `finish`, then the terminal event, committed with the state
        change as the engine does."""
        async with self.writers() as session:
            for _ in range(count):
                await store.append_event(session, task_id=task_id, type="note")
            if finish is not None:
                await store.append_event(session, task_id=task_id, type=f"task.{finish.value}")
                await session.execute(update(Task).where(Task.id == task_id).values(state=finish))
            await session.commit()


@pytest.fixture
async def harness(settings: Settings) -> AsyncIterator[Harness]:
    # The tests' writers get a pool of their own (40 of them at once must not queue for one connection on a
    # loaded machine); the feeds get a pool of one connection, waited for 0.5 s at most: a follower that held
    # it would starve everyone (tests take it themselves to show it is free).
    signals = Signals()
    writer_engine = create_engine(settings)
    writers = create_session_factory(writer_engine, info={SIGNALS_KEY: signals})
    settings.database.pool_size = 1
    settings.database.max_overflow = 0
    settings.database.pool_timeout_s = 0.5
    engine = create_engine(settings)
    sessions = create_session_factory(engine, info={SIGNALS_KEY: signals})
    org_id, agent_id, version_id = await seed_agent(writers, slug="feeds")
    feeds = EventFeeds(sessions, signals)
    ids = {"org_id": org_id, "agent_id": agent_id, "agent_version_id": version_id}
    try:
        yield Harness(sessions, writers, signals, feeds, ids)
    finally:
        await feeds.aclose()
        await engine.dispose()
        await writer_engine.dispose()


async def _collect(feeds: EventFeeds, task_id: uuid.UUID, after_seq: int = 0) -> list[tuple[int, str]]:
    received: list[tuple[int, str]] = []
    async for batch in feeds.follow(task_id, after_seq=after_seq, keepalive_s=30):
        received.extend((event.seq, event.type) for event in batch)
    return received


async def test_backlog_then_live_events_then_the_end(harness: Harness) -> None:
    task_id = await harness.task()
    await harness.append(task_id, 3)
    follower = asyncio.create_task(_collect(harness.feeds, task_id, after_seq=1))
    await asyncio.sleep(0.1)
    await harness.append(task_id, 2)
    await harness.append(task_id, 1, finish=TaskState.SUCCEEDED)
    received = await asyncio.wait_for(follower, 5)
    assert [seq for seq, _ in received] == list(range(2, 9))
    assert received[-1] == (8, "task.succeeded")
    assert harness.feeds.followers == 0


async def test_a_finished_task_streams_its_events_and_ends(harness: Harness) -> None:
    task_id = await harness.task()
    await harness.append(task_id, 2, finish=TaskState.FAILED)
    # Its first event is `task.created`, from the enqueue.
    assert [seq for seq, _ in await asyncio.wait_for(_collect(harness.feeds, task_id), 5)] == [1, 2, 3, 4]
    # Resumed after its last event: nothing more, and it still ends.
    assert await asyncio.wait_for(_collect(harness.feeds, task_id, after_seq=4), 5) == []


async def test_every_follower_gets_the_terminal_event_last_under_racing_writes(harness: Harness) -> None:
    """The stream used to read events, then the state, in two queries: a task finishing in between ended the
    stream without its terminal event. 40 tasks x 3 followers joining at random moments of the run."""
    rng = random.Random(14)
    tasks = [await harness.task() for _ in range(40)]

    async def run(task_id: uuid.UUID) -> None:
        for _ in range(rng.randint(1, 4)):
            await harness.append(task_id, rng.randint(1, 3))
            await asyncio.sleep(rng.random() / 50)
        await harness.append(task_id, rng.randint(0, 2), finish=TaskState.SUCCEEDED)

    async def follow(task_id: uuid.UUID) -> list[tuple[int, str]]:
        await asyncio.sleep(rng.random() / 10)
        return await _collect(harness.feeds, task_id)

    followers = [asyncio.create_task(follow(t)) for t in tasks for _ in range(3)]
    await asyncio.gather(*(run(t) for t in tasks))
    results = await asyncio.wait_for(asyncio.gather(*followers), 20)
    for received in results:
        assert [seq for seq, _ in received] == list(range(1, len(received) + 1))
        assert received[-1][1] == "task.succeeded"


async def test_a_quiet_stream_gets_keep_alives_and_a_busy_one_does_not(harness: Harness) -> None:
    """One sweep per process asks for keep-alives: a follower yields an empty batch once it has yielded
    nothing for its interval, and events reset that clock."""
    quiet, busy = await harness.task(), await harness.task()
    seen: dict[uuid.UUID, list[int | None]] = {quiet: [], busy: []}

    async def follow(task_id: uuid.UUID) -> None:
        async for batch in harness.feeds.follow(task_id, after_seq=1, keepalive_s=0.4):
            seen[task_id].extend([e.seq for e in batch] or [None])

    followers = [asyncio.create_task(follow(t)) for t in (quiet, busy)]
    for _ in range(12):  # 1.2 s: an event every 0.1 s keeps the busy stream from ever going quiet
        await harness.append(busy)
        await asyncio.sleep(0.1)
    for task_id in (quiet, busy):
        await harness.append(task_id, 0, finish=TaskState.SUCCEEDED)
    await asyncio.wait_for(asyncio.gather(*followers), 5)
    assert 2 <= seen[quiet].count(None) <= 4, seen[quiet]
    assert seen[quiet][-1] == 2  # the terminal event, after the keep-alives
    assert None not in seen[busy], seen[busy]
    assert seen[busy] == list(range(2, 15))


async def test_a_follower_far_behind_is_caught_up_a_page_at_a_time(harness: Harness) -> None:
    task_id = await harness.task()
    total = event_feeds.PAGE * 2 + 37  # with the enqueue's and the terminal event
    await harness.append(task_id, total - 2)
    follower = asyncio.create_task(_collect(harness.feeds, task_id))
    await harness.append(task_id, 0, finish=TaskState.SUCCEEDED)
    received = await asyncio.wait_for(follower, 10)
    assert [seq for seq, _ in received] == list(range(1, total + 1))


async def test_a_slow_reader_misses_nothing(harness: Harness) -> None:
    task_id = await harness.task()
    total = event_feeds.PAGE * 3 + 2  # with the enqueue's and the terminal event
    received: list[int] = []

    async def slow() -> None:
        async for batch in harness.feeds.follow(task_id, after_seq=0, keepalive_s=30):
            received.extend(event.seq for event in batch)
            await asyncio.sleep(0.05)

    follower = asyncio.create_task(slow())
    for _ in range(6):
        await harness.append(task_id, event_feeds.PAGE // 2)
    await harness.append(task_id, 0, finish=TaskState.CANCELLED)
    await asyncio.wait_for(follower, 20)
    assert received == list(range(1, total + 1))


async def test_a_lost_signal_is_caught_up_by_the_poll(harness: Harness, settings: Settings) -> None:
    """Events written by another process that nobody signals here (no transport) arrive within a poll."""
    task_id = await harness.task()
    follower = asyncio.create_task(_collect(harness.feeds, task_id))
    await asyncio.sleep(0.1)
    other = create_engine(settings)
    try:
        async with create_session_factory(other)() as session:  # no signal hub: nothing is signalled
            await store.append_event(session, task_id=task_id, type="task.succeeded")
            await session.execute(update(Task).where(Task.id == task_id).values(state=TaskState.SUCCEEDED))
            await session.commit()
        started = time.monotonic()
        assert await asyncio.wait_for(follower, 5) == [(1, "task.created"), (2, "task.succeeded")]
        assert time.monotonic() - started < event_feeds.POLL_S + 0.5
    finally:
        await other.dispose()


async def test_a_thousand_waiting_followers_hold_no_connection(harness: Harness) -> None:
    """A pool of one connection: with 1,000 followers waiting, a writer still gets it at once, every time."""
    tasks = [await harness.task() for _ in range(50)]
    followers = [asyncio.create_task(_collect(harness.feeds, t)) for t in tasks for _ in range(20)]
    await asyncio.sleep(0.5)  # every follower is waiting, and polls have happened
    assert harness.feeds.followers == 1000
    for task_id in tasks:
        started = time.monotonic()
        async with harness.sessions() as session:
            await session.execute(text("SELECT 1"))
        assert time.monotonic() - started < 0.4  # the pool timeout is 0.5 s
        await harness.append(task_id, 2, finish=TaskState.SUCCEEDED)
    results = await asyncio.wait_for(asyncio.gather(*followers), 20)
    assert all([seq for seq, _ in r] == [1, 2, 3, 4] for r in results)
    assert harness.feeds.followers == 0


async def test_a_database_outage_delays_the_stream_and_loses_nothing(
    harness: Harness, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    """Reads that fail (here the pool's only connection is taken, so they time out) are tried again."""
    task_id = await harness.task()
    follower = asyncio.create_task(_collect(harness.feeds, task_id))
    await asyncio.sleep(0.1)
    async with harness.sessions() as blocker:
        await blocker.execute(text("SELECT 1"))  # holds the pool's only connection
        await asyncio.sleep(1.2)  # the reader's polls time out meanwhile
    await harness.append(task_id, 1, finish=TaskState.SUCCEEDED)
    assert [seq for seq, _ in await asyncio.wait_for(follower, 5)] == [1, 2, 3]
    deferred = [line for line in log_lines() if line["event"] == "streams.read_deferred"]
    assert deferred
    assert deferred[0]["fault"] == "saturated"


async def test_a_follower_joining_while_a_read_is_under_way_misses_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A range is read from the positions of the followers the reader knows; one that joins meanwhile,
    further back, must not be moved past events it was never given (it lost events 1-3 that way)."""
    task_id = await harness.task()
    await harness.append(task_id, 4)  # events 1..5
    reading, resume = asyncio.Event(), asyncio.Event()
    real = tasks_service.events_in_ranges

    async def paused(session: AsyncSession, *, ranges: dict[uuid.UUID, tuple[int, int]]) -> list[TaskEvent]:
        if not resume.is_set():
            reading.set()
            await resume.wait()
        return await real(session, ranges=ranges)

    monkeypatch.setattr(tasks_service, "events_in_ranges", paused)
    ahead = asyncio.create_task(_collect(harness.feeds, task_id, after_seq=3))
    await asyncio.wait_for(reading.wait(), 5)  # reading (3, 5] for `ahead`
    behind = asyncio.create_task(_collect(harness.feeds, task_id, after_seq=0))
    await asyncio.sleep(0.05)
    resume.set()
    await harness.append(task_id, 1, finish=TaskState.SUCCEEDED)  # events 6, 7
    assert [seq for seq, _ in await asyncio.wait_for(ahead, 5)] == [4, 5, 6, 7]
    assert [seq for seq, _ in await asyncio.wait_for(behind, 5)] == [1, 2, 3, 4, 5, 6, 7]
