"""The engine's side of a worker: claims and runs tasks, keeps leases alive, reaps dead workers' tasks."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.config import WorkerSettings
from agentic.db.engine import DatabaseFault, database_fault
from agentic.db.models import TaskState
from agentic.engine import store
from agentic.engine.agent_runner import make_agent_runner
from agentic.engine.checkpoints import CheckpointWriter
from agentic.engine.runners import RUNNERS, RunContext, Runner, StepFailed, TaskInfo, WaitRequested
from agentic.engine.signals import SIGNALS_KEY, Reservation, Signals
from agentic.engine.store import Lease, LeaseLost
from agentic.logging import get_logger
from agentic.resources import Resources
from agentic.services import schedules
from agentic.tools import sandbox
from agentic.tracing import trace_id
from agentic.webhooks.dispatcher import WebhookDispatcher
from agentic.workers.runtime import Job

log = get_logger("agentic.engine")

# How often a worker looks for cancellation requests of the tasks it runs (the 1-second promise).
_CANCEL_POLL_S = 0.1
_CANCEL_SIGNALLED_POLL_S = 1.0
# Slots freed within this time are refilled by one claim.
_REFILL_DELAY_S = 0.005
# A task's outcome (failed, waiting, cancelled) that could not be stored is retried with backoff for at most
# this share of the lease; the lease is still renewed meanwhile. After that the job lets go, and the reaper
# hands the task to another attempt once its lease runs out: stuck for a lease, never forever.
_OUTCOME_RETRY_SHARE = 0.5
_OUTCOME_RETRY_FIRST_S = 0.05
_OUTCOME_RETRY_MAX_S = 2.0
_RELEASE_RETRY_S = 2.0
# Longest pause before a run interrupted by the database (not by the task) is tried again.
_INTERRUPTED_MAX_DELAY_S = 30.0

T = TypeVar("T")


class EngineSource:
    """A `TaskSource` backed by the database: what `WorkerRuntime` claims and runs."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: WorkerSettings,
        *,
        runners: dict[str, Runner] | None = None,
        signals: Signals | None = None,
        companions: Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = (),
    ) -> None:
        self._sessions = sessions
        # Loops that live as long as the worker (the webhook dispatcher); each gets the stopping event.
        self._companions = tuple(companions)
        # The hub the session factory reports commits to, so that this worker hears what its own writes
        # (and the API's, in the same process) signal.
        shared = sessions.kw.get("info", {}).get(SIGNALS_KEY)
        self._signals = signals or (shared if isinstance(shared, Signals) else Signals())
        self._unsubscribe: Any = None
        self._settings = settings
        self._runners = dict(RUNNERS) | (runners or {})
        self._background: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        # Running jobs by task, so a cancellation request can interrupt one mid-step.
        self._running: dict[uuid.UUID, asyncio.Task[Any]] = {}
        # The leases of the work really in flight here (claimed, handed over or running): all the heartbeat
        # renews. A job that ends drops its lease from here whatever happened to its outcome write.
        self._held: dict[uuid.UUID, Lease] = {}
        # Tasks whose runner has returned and whose outcome is being stored: too late to cancel them.
        self._finishing: set[uuid.UUID] = set()
        self._checkpoints = CheckpointWriter(sessions)
        # Local hand-off (see `store.enqueue`): slots promised to tasks being created, and tasks handed over.
        self.lease_s = settings.lease_s
        self._worker_id: str | None = None
        self._reserved = 0
        self._handed: list[store.Claimed] = []
        self._refill: asyncio.TimerHandle | None = None
        self._cancelling: set[uuid.UUID] = set()
        self._confirming: set[asyncio.Task[None]] = set()  # checks of cancel signals against the database

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def wait_for_work(self, timeout_s: float) -> None:
        """Return when work may be waiting (a wake-up) or after `timeout_s`."""
        await self._signals.wait_for_work(timeout_s)

    def start(self, worker_id: str) -> None:
        """Start the heartbeat, reaper and cancellation loops, and listen for cancellation signals."""
        self._stopping.clear()
        self._worker_id = worker_id
        self._unsubscribe = self._signals.on_cancel(self._cancel_signalled)
        if self._signals.local_claimer is None:
            self._signals.local_claimer = self  # the process's first worker takes tasks created here

        # The cancellation poll is the fallback for signals that cannot reach us (several processes on one
        # SQLite file); with a transport it only catches a signal lost in transit.
        # Read at every turn: while the transport is lost (Redis down), the poll speeds up until it is back.
        def cancel_poll_s() -> float:
            return _CANCEL_SIGNALLED_POLL_S if self._signals.crosses_processes else _CANCEL_POLL_S

        self._background = [
            asyncio.create_task(self._every(self._settings.lease_s / 3, self._heartbeat, worker_id)),
            asyncio.create_task(self._every(self._settings.reap_interval_s, self._reap)),
            asyncio.create_task(self._every(cancel_poll_s, self._watch_cancellations, worker_id)),
            *(asyncio.create_task(companion(self._stopping)) for companion in self._companions),
        ]

    async def stop(self) -> None:
        """Stop the loops (leases of unfinished work then expire, or were released by the runtime)."""
        self._stopping.set()
        if self._signals.local_claimer is self:
            self._signals.local_claimer = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []

    async def _every(self, interval_s: float | Callable[[], float], fn: Any, *args: Any) -> None:
        while not self._stopping.is_set():
            try:
                await fn(*args)
            except Exception as exc:
                if (fault := database_fault(exc)) is not None:
                    # Expected while the database restarts or drops connections; the next turn retries.
                    log.warning("engine.background_deferred", job=fn.__name__, fault=fault.value)
                else:
                    log.exception("engine.background_failed", job=fn.__name__)
            wait_s = interval_s() if callable(interval_s) else interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=wait_s)

    async def _heartbeat(self, worker_id: str) -> None:
        leases = [lease for lease in self._held.values() if lease.worker_id == worker_id]
        if not leases:
            return  # nothing in flight: no write at all
        async with self._sessions() as session:
            await store.heartbeat(session, leases=leases, lease_s=self._settings.lease_s)

    async def _watch_cancellations(self, worker_id: str) -> None:
        if not self._running:
            return
        async with self._sessions() as session:
            requested = await store.cancellations_for(session, worker_id=worker_id)
        for task_id in requested:
            self._cancel_now(task_id)

    def _slot_freed(self) -> None:
        # Claim the next tasks now rather than at the next poll, but gather the slots that free up within a
        # few milliseconds into one claim: under load, one claim per finished task would rank the queue once
        # per task.
        if self._refill is None:
            self._refill = asyncio.get_running_loop().call_later(_REFILL_DELAY_S, self._refill_now)

    def _refill_now(self) -> None:
        self._refill = None
        self._signals.poke()

    def _cancel_signalled(self, task_id: uuid.UUID) -> None:
        # A signal is a hint, not an order: anyone who can publish on the signal transport (Redis) could send
        # one. The database says whether the cancellation was requested; one primary-key read, then at once.
        if self._cancellable(task_id):
            check = asyncio.create_task(self._confirm_cancel(task_id))
            self._confirming.add(check)
            check.add_done_callback(self._confirming.discard)

    async def _confirm_cancel(self, task_id: uuid.UUID) -> None:
        try:
            async with self._sessions() as session:
                requested = await store.cancellation_requested(session, task_id=task_id)
        except Exception as exc:  # the cancellation poll finds it anyway
            error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("engine.cancel_check_deferred", task_id=str(task_id), error=error)
            return
        if requested:
            self._cancel_now(task_id)

    def _cancellable(self, task_id: uuid.UUID) -> bool:
        return task_id in self._running and task_id not in self._cancelling and task_id not in self._finishing

    def _cancel_now(self, task_id: uuid.UUID) -> None:
        # The request is committed; the job records the cancellation, fenced by its lease.
        if self._cancellable(task_id):
            self._cancelling.add(task_id)
            self._running[task_id].cancel()

    async def _reap(self) -> None:
        # Housekeeping any worker may do, concurrently with the others: recover expired leases, apply the
        # defaults of timed-out waits, and queue the runs of cron schedules that are due.
        async with self._sessions() as session:
            recovered = await store.reap(session)
            woken = await store.wake_expired_waits(session)
            fired = await schedules.fire_due(session)
        if recovered or woken or fired:
            log.info("engine.reaped", tasks=recovered, waits_timed_out=woken, schedules_fired=len(fired))

    # --- claiming and running -------------------------------------------------------------------------------

    # --- local hand-off (LocalClaimer) ---------------------------------------------------------------------

    @property
    def reserved(self) -> int:
        """Slots promised to tasks still being created in this process (the runtime counts them as busy)."""
        return self._reserved

    def reserve(self) -> Reservation | None:
        """Hold a slot for a task created in this process, if one is free."""
        if self._worker_id is None or self._stopping.is_set():
            return None
        if len(self._running) + self._reserved + len(self._handed) >= self._settings.concurrency:
            return None
        self._reserved += 1
        return Reservation(self, self._worker_id)

    def release(self) -> None:
        """The task's transaction did not commit: the slot is free again."""
        self._reserved -= 1

    def hand(self, claimed: store.Claimed) -> None:
        """A task created already claimed by us committed: start it at the runtime's next turn."""
        self._reserved -= 1
        self._held[claimed.lease.task_id] = claimed.lease
        self._handed.append(claimed)
        self._signals.poke()

    async def claim(self, *, worker_id: str, limit: int) -> list[Job]:
        """Claim up to `limit` tasks and return a job for each (tasks handed over locally first)."""
        if self._handed:
            handed, self._handed = self._handed[:limit], self._handed[limit:]
            return [self._job(c) for c in handed]
        async with self._sessions() as session:
            claimed = await store.claim_tasks(
                session, worker_id=worker_id, limit=limit, lease_s=self._settings.lease_s
            )
        for c in claimed:
            self._held[c.lease.task_id] = c.lease
        return [self._job(c) for c in claimed]

    def _job(self, claimed: store.Claimed) -> Job:
        async def job() -> None:
            await self.run(claimed)

        return job

    async def run(self, claimed: store.Claimed) -> None:
        """Run one claimed task; a cancellation request interrupts it mid-step (not just between steps)."""
        lease = claimed.lease
        self._held[lease.task_id] = lease
        job = asyncio.create_task(self._execute(claimed))
        self._running[lease.task_id] = job
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            if lease.task_id in self._cancelling:
                return  # the job itself recorded the cancellation
            job.cancel()  # the worker is shutting down: let the job release its lease
            await asyncio.gather(job, return_exceptions=True)
            raise
        finally:
            self._running.pop(lease.task_id, None)
            self._held.pop(lease.task_id, None)
            self._cancelling.discard(lease.task_id)
            self._finishing.discard(lease.task_id)
            self._slot_freed()

    async def _execute(self, claimed: store.Claimed) -> None:
        """Run one claimed task to its next state; every outcome is written fenced by the lease."""
        lease = claimed.lease
        info = TaskInfo(
            id=lease.task_id,
            org_id=claimed.org_id,
            agent_id=claimed.agent_id,
            agent_version_id=claimed.agent_version_id,
            input=claimed.input,
            attempt=lease.attempt,
        )
        # Every log line of this attempt, on whichever worker, carries the creating request's IDs.
        with structlog.contextvars.bound_contextvars(
            task_id=str(lease.task_id),
            attempt=lease.attempt,
            request_id=claimed.request_id,
            traceparent=claimed.traceparent,
            trace_id=trace_id(claimed.traceparent),
        ):
            await self._execute_traced(claimed, info)

    async def _execute_traced(self, claimed: store.Claimed, info: TaskInfo) -> None:
        lease, timeout_s = claimed.lease, claimed.timeout_s
        runner = self._runners.get(claimed.runner)
        log.info("engine.attempt_started", runner=claimed.runner)
        try:
            if runner is None:
                raise StepFailed(
                    f"no runner named {claimed.runner!r}", retryable=False, code="unknown_runner"
                )
            ctx = RunContext(
                task=info,
                lease=lease,
                sessions=self._sessions,
                may_have_steps=claimed.may_have_steps,
                checkpoints=self._checkpoints,
            )
            async with asyncio.timeout(timeout_s):
                output = await runner(ctx)
        except LeaseLost:
            log.warning("engine.lease_lost", task_id=str(lease.task_id), attempt=lease.attempt)
        except WaitRequested as waiting:
            self._finishing.add(lease.task_id)

            async def park(session: AsyncSession, request: WaitRequested = waiting) -> None:
                await store.wait(
                    session,
                    lease=lease,
                    step_key=request.key,
                    position=request.position,
                    until=request.until,
                    default=request.default,
                    approval=request.approval,
                )

            await self._store_outcome(lease, "waiting", park)
        except TimeoutError:
            await self._fail(
                lease, {"code": "task_timeout", "message": f"task exceeded {timeout_s}s"}, retryable=False
            )
        except StepFailed as exc:
            await self._fail(lease, exc.error(), retryable=exc.retryable)
        except asyncio.CancelledError:
            if lease.task_id in self._cancelling:
                # A user asked to cancel: record it (the request is already stored on the task).
                self._finishing.add(lease.task_id)

                async def cancelled(session: AsyncSession) -> None:
                    await store.mark_cancelled(session, lease=lease)

                await self._store_outcome(lease, "cancelled", cancelled)
                return

            # Shutting down past the grace period: hand the task back instead of letting the lease run out.
            async def released(session: AsyncSession) -> None:
                await store.release(session, lease=lease, reason="worker_shutdown")

            # Briefly: the process is on its way out, and an unreleased lease only delays the task a lease.
            await self._store_outcome(lease, "released", released, budget_s=_RELEASE_RETRY_S)
            raise
        except Exception as exc:
            if (fault := database_fault(exc)) is not None:
                await self._interrupted(lease, fault)
                return
            # An unexpected bug in a runner: retry like any transient failure.
            log.exception("engine.runner_crashed", task_id=str(lease.task_id))
            await self._fail(
                lease,
                {"code": "runner_error", "message": f"{type(exc).__name__}: {exc}"[:500]},
                retryable=True,
            )
        else:
            self._finishing.add(lease.task_id)
            try:
                # The checkpoint writer retries a failed commit itself; what still fails, the reaper recovers.
                await self._checkpoints.complete(lease=lease, output=output)
            except LeaseLost:
                log.warning("engine.lease_lost", task_id=str(lease.task_id), attempt=lease.attempt)
            except Exception as exc:
                self._outcome_lost(lease, "succeeded", exc)

    async def _interrupted(self, lease: Lease, fault: DatabaseFault) -> None:
        """The database, not the task, failed mid-run (a dropped connection, a full pool): give the try back.

        The task runs again from its checkpoints after a pause that grows with each interruption (the run
        number), so a long outage neither spends the task's attempts nor spins.
        """
        self._finishing.add(lease.task_id)
        delay_s = random.uniform(0.5, 1.0) * min(_INTERRUPTED_MAX_DELAY_S, 2.0 ** min(lease.attempt, 5))  # noqa: S311 - jitter
        log.warning(
            "engine.attempt_interrupted", task_id=str(lease.task_id), fault=fault.value, retry_in_s=delay_s
        )

        async def released(session: AsyncSession) -> None:
            await store.release(session, lease=lease, reason=f"database_{fault.value}", delay_s=delay_s)

        await self._store_outcome(lease, "released", released)

    async def _fail(self, lease: Lease, error: dict[str, Any], *, retryable: bool) -> None:
        self._finishing.add(lease.task_id)

        async def failed(session: AsyncSession) -> TaskState:
            return await store.fail(session, lease=lease, error=error, retryable=retryable)

        state = await self._store_outcome(lease, "failed", failed)
        if state is not None:
            log.info(
                "engine.attempt_failed",
                task_id=str(lease.task_id),
                attempt=lease.attempt,
                next_state=state.value,
            )

    async def _store_outcome(
        self,
        lease: Lease,
        outcome: str,
        write: Callable[[AsyncSession], Awaitable[T]],
        *,
        budget_s: float | None = None,
    ) -> T | None:
        """Store an attempt's outcome, retrying transient failures (a dropped connection, a failed commit).

        Each try is its own transaction, fenced by the lease: a try whose commit did land but whose answer
        was lost finds the lease gone on the next try (`LeaseLost`), so nothing is stored twice. Returns None
        when the outcome was not stored (lease lost, or still failing when the retry budget ran out).
        """
        deadline = time.monotonic() + min(
            self._settings.lease_s * _OUTCOME_RETRY_SHARE, budget_s if budget_s is not None else float("inf")
        )
        delay = _OUTCOME_RETRY_FIRST_S
        tries = 0
        while True:
            tries += 1
            try:
                async with self._sessions() as session:
                    return await write(session)
            except LeaseLost:
                log.warning("engine.lease_lost", task_id=str(lease.task_id), attempt=lease.attempt)
                return None
            except Exception as exc:
                if time.monotonic() + delay > deadline:
                    self._outcome_lost(lease, outcome, exc, tries=tries)
                    return None
                log.warning(
                    "engine.outcome_retry",
                    task_id=str(lease.task_id),
                    outcome=outcome,
                    tries=tries,
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _OUTCOME_RETRY_MAX_S)

    def _outcome_lost(self, lease: Lease, outcome: str, exc: BaseException, *, tries: int = 1) -> None:
        # The job ends now and its lease is no longer renewed: the reaper recovers the task after it expires.
        log.error(
            "engine.outcome_not_stored",
            task_id=str(lease.task_id),
            attempt=lease.attempt,
            outcome=outcome,
            tries=tries,
            error=f"{type(exc).__name__}: {exc}"[:300],
            recovery="the lease expires and the reaper gives the task another attempt",
        )


def _sandbox_probe(workspaces: Path) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    async def probe(_stopping: asyncio.Event) -> None:
        # Once, at start: an operator reads why the `python` tool is off in the log now, not in a failed task.
        status = await sandbox.probe(workspaces)
        if status.available:
            log.info("sandbox.ready", workspaces=status.workspaces)
        else:
            log.warning("sandbox.unavailable", reason=status.reason, workspaces=status.workspaces)

    return probe


def engine_source(resources: Resources) -> EngineSource:
    """The engine source of a process, with every runner it offers (the agent loop included)."""
    try:
        workspaces = sandbox.workspace_root(resources.settings.data_dir / "workspaces")
    except sandbox.SandboxUnavailable as exc:
        log.warning("sandbox.unavailable", reason=exc.message)
        workspaces = resources.settings.data_dir / "workspaces"  # every run then reports the same reason
    return EngineSource(
        resources.sessions,
        resources.settings.worker,
        runners={
            "agent": make_agent_runner(
                resources.llm,
                resources.sessions,
                settings=resources.settings,
                box=resources.secret_box,
                workspaces=workspaces,
            )
        },
        signals=resources.signals,
        companions=[
            WebhookDispatcher(
                resources.sessions, resources.settings, resources.secret_box, resources.signals
            ).run,
            _sandbox_probe(workspaces),
        ],
    )
