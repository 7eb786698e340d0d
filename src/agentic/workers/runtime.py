"""The worker runtime: one per process, in `agentic serve` (in-process) or `agentic worker` (standalone).

It owns the process's task slots and its lifecycle: start, a poll loop that asks the engine for work, and a
graceful stop (stop claiming, give running work a grace period, then release). The durable task engine
(`agentic.engine.worker.EngineSource`: claiming, leases, checkpoints) plugs in through `TaskSource`.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol

from agentic.config import WorkerSettings
from agentic.db.engine import database_fault
from agentic.ids import new_id
from agentic.logging import get_logger
from agentic.metrics import WORKER_SLOTS

log = get_logger("agentic.worker")

Job = Callable[[], Awaitable[None]]


class TaskSource(Protocol):
    """Hands out runnable work; implemented by the task engine."""

    async def claim(self, *, worker_id: str, limit: int) -> list[Job]:
        """Claim up to `limit` jobs for `worker_id` (an empty list when nothing is runnable)."""
        ...


def make_worker_id() -> str:
    """A unique, human-readable worker ID: host, PID and a random suffix."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{new_id().hex[-8:]}"


class WorkerRuntime:
    """Runs claimed jobs with bounded concurrency and stops gracefully."""

    def __init__(self, settings: WorkerSettings, *, source: TaskSource | None = None) -> None:
        self.settings = settings
        self.source = source
        self.worker_id = make_worker_id()
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        """Jobs running now."""
        return len(self._running)

    def start(self) -> None:
        """Start the poll loop in the background."""
        if self._loop_task is not None:
            return
        log.info(
            "worker.started",
            worker_id=self.worker_id,
            concurrency=self.settings.concurrency,
            # uvloop under `agentic serve` (uvicorn's choice), asyncio's own loop elsewhere: subprocesses,
            # signals and sockets differ between the two, so the log says which one runs the tasks.
            event_loop=type(asyncio.get_running_loop()).__module__.split(".")[0],
        )
        starter = getattr(self.source, "start", None)
        if callable(starter):
            starter(self.worker_id)
        self._update_gauges()
        self._loop_task = asyncio.create_task(self._loop(), name=f"worker-loop:{self.worker_id}")

    async def stop(self) -> None:
        """Stop claiming, wait up to the grace period for running jobs, then cancel what is left."""
        self._stopping.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._running:
            log.info("worker.draining", in_flight=len(self._running), grace_s=self.settings.shutdown_grace_s)
            _done, pending = await asyncio.wait(self._running, timeout=self.settings.shutdown_grace_s or None)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        stopper = getattr(self.source, "stop", None)
        if callable(stopper):
            await stopper()
        self._update_gauges()
        log.info("worker.stopped", worker_id=self.worker_id)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            # Slots promised to tasks being handed over in this process count as busy.
            free = self.settings.concurrency - len(self._running) - int(getattr(self.source, "reserved", 0))
            jobs: list[Job] = []
            if free > 0 and self.source is not None:
                try:
                    jobs = await self.source.claim(worker_id=self.worker_id, limit=free)
                except Exception as exc:
                    if (fault := database_fault(exc)) is not None:
                        # The database restarts or dropped the connection: the next poll claims again.
                        log.warning("worker.claim_deferred", fault=fault.value)
                    else:
                        log.exception("worker.claim_failed")
            for job in jobs:
                task = asyncio.create_task(self._run(job))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            self._update_gauges()
            if not jobs:
                await self._idle()

    async def _idle(self) -> None:
        # Sleep until the poll interval passes, the source signals new work, or we are asked to stop.
        waiter = getattr(self.source, "wait_for_work", None)
        sleeps = [asyncio.create_task(self._stopping.wait())]
        if callable(waiter):
            sleeps.append(asyncio.create_task(waiter(self.settings.poll_interval_s)))
        _done, pending = await asyncio.wait(
            sleeps, timeout=self.settings.poll_interval_s, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self, job: Job) -> None:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The engine records task failures itself; this only keeps one bad job from killing the loop.
            log.exception("worker.job_crashed")
        finally:
            self._update_gauges()

    def _update_gauges(self) -> None:
        WORKER_SLOTS.labels(state="busy").set(len(self._running))
        WORKER_SLOTS.labels(state="free").set(self.settings.concurrency - len(self._running))
