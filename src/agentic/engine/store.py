"""Durable task state: enqueue, claim, leases, the reaper, fenced writes, step checkpoints and events.

Every function takes an `AsyncSession` and commits what it changed before returning: a state change is on disk
before anyone is told about it. Every write a worker makes for a task is *fenced* by the lease it holds
(`attempt` and `lease_owner` must still match, and the task must still be running), so a worker that stalled
past its lease and woke up after another took over cannot change anything: its write matches no row and
raises `LeaseLost`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, or_, select, true, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import (
    ApprovalStatus,
    AttemptStatus,
    StepStatus,
    Task,
    TaskApproval,
    TaskAttempt,
    TaskEvent,
    TaskState,
    TaskStep,
)
from agentic.db.types import utcnow
from agentic.engine.signals import (
    CANCEL,
    EVENTS,
    SIGNALS_KEY,
    WAKE,
    LocalClaimer,
    Reservation,
    Signals,
    drop_handoffs,
    note,
    note_handoff,
)
from agentic.engine.states import check_transition, sources_of
from agentic.ids import new_id
from agentic.services.audit import record_audit_event
from agentic.webhooks import outbox


class LeaseLost(Exception):
    """The worker no longer holds the task (lease expired and taken over, cancelled, or finished)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """What a worker holds while it runs a task; every write is checked against it (fencing)."""

    task_id: uuid.UUID
    attempt: int
    worker_id: str

    def guard(self) -> Any:
        """The SQL condition that the lease is still ours."""
        return and_(
            Task.id == self.task_id,
            Task.attempt == self.attempt,
            Task.lease_owner == self.worker_id,
            Task.state == TaskState.RUNNING,
        )


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff between attempts, jittered between half and all of the ceiling."""

    base_s: float = 1.0
    max_s: float = 300.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds before attempt `attempt + 1`."""
        ceiling = min(self.max_s, self.base_s * (2 ** max(attempt - 1, 0)))
        return (rng or random).uniform(ceiling / 2, ceiling)  # jitter, not security


def retry_decision(policy: dict[str, Any] | None, code: str, retryable: bool) -> bool:
    """Whether a failure with `code` is retried under the task's policy.

    By default the error decides (`retryable`). An agent may list the error classes it wants retried
    (`retryable_errors`, replacing the default for every code) and classes it never wants retried
    (`non_retryable_errors`, e.g. `timeout` for an agent whose calls are expensive).
    """
    policy = policy or {}
    if code in (policy.get("non_retryable_errors") or ()):
        return False
    listed = policy.get("retryable_errors")
    if listed is not None:
        return code in listed
    return retryable


def backoff_of(task: Task) -> Backoff:
    """The task's frozen backoff policy."""
    policy = task.policy or {}
    return Backoff(float(policy.get("backoff_base_s", 1.0)), float(policy.get("backoff_max_s", 300.0)))


async def append_event(
    session: AsyncSession,
    *,
    task_id: uuid.UUID,
    type: str,
    data: dict[str, Any] | None = None,
    attempt: int | None = None,
) -> int:
    """Append an event with the task's next sequence number (in the caller's transaction); return the number.

    The counter lives on the task row and is bumped with an atomic UPDATE … RETURNING, which also serialises
    concurrent appends for one task: numbers are gap-free and strictly increasing.
    """
    seq = await session.scalar(
        update(Task)
        .where(Task.id == task_id)
        .values(last_event_seq=Task.last_event_seq + 1)
        .returning(Task.last_event_seq)
        .execution_options(synchronize_session=False)
    )
    if seq is None:
        raise LookupError(f"task {task_id} does not exist")
    note(session, EVENTS, str(task_id))  # live followers read it once it is committed
    session.add(TaskEvent(task_id=task_id, seq=seq, type=type, attempt=attempt, data=data or {}))
    return int(seq)


async def enqueue(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    agent_id: uuid.UUID,
    agent_version_id: uuid.UUID,
    input: dict[str, Any],
    runner: str = "agent",
    priority: int = 0,
    run_at: dt.datetime | None = None,
    max_attempts: int = 3,
    policy: dict[str, Any] | None = None,
    timeout_s: int | None = None,
    concurrency_limit: int | None = None,
    created_by_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    request_id: str | None = None,
    traceparent: str | None = None,
    task_id: uuid.UUID | None = None,
) -> Task:
    """Create a queued task and its `created` event, and commit.

    `task_id` lets the caller add rows that belong to the task (its input files) to the same transaction.

    In a process that also runs a worker with a free slot (the embedded `agentic serve`), a task that may run
    now is created already claimed by that worker, in the same transaction, and handed to it on commit: it
    starts without another round trip to the database. Only when nothing else is waiting to run (so no older
    task is overtaken) and the agent has no concurrency limit (those are counted by the normal claim).
    """
    now = utcnow()
    claimer = _local_claimer(session)
    reservation = None
    if claimer is not None and (run_at is None or run_at <= now) and concurrency_limit is None:
        reservation = claimer.reserve()
        if reservation is not None and await _runnable_backlog(session, now):
            reservation.release()
            reservation = None
    task = Task(
        id=task_id or new_id(),
        org_id=org_id,
        agent_id=agent_id,
        agent_version_id=agent_version_id,
        input=input,
        runner=runner,
        priority=priority,
        run_at=run_at or now,
        max_attempts=max_attempts,
        policy=policy or {},
        timeout_s=timeout_s,
        concurrency_limit=concurrency_limit,
        created_by_id=created_by_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        request_id=request_id,
        traceparent=traceparent,
        state=TaskState.QUEUED,
        last_event_seq=1,  # the `task.created` event below: no second write to number it
    )
    if reservation is not None and claimer is not None:
        return await _enqueue_claimed(
            session, reservation=reservation, lease_s=claimer.lease_s, now=now, task=task
        )
    session.add(task)
    await session.flush()
    await session.execute(
        _EVENTS_TABLE.insert(),
        [
            {
                "task_id": task.id,
                "seq": 1,
                "type": "task.created",
                "data": {"runner": runner},
                "created_at": utcnow(),
            }
        ],
    )
    note(session, EVENTS, str(task.id))
    if task.run_at <= utcnow():
        note(session, WAKE)  # runnable now: a worker starts it at once instead of at its next poll
    await session.commit()
    return task


def _local_claimer(session: AsyncSession) -> LocalClaimer | None:
    hub = session.info.get(SIGNALS_KEY)
    return hub.local_claimer if isinstance(hub, Signals) else None


async def _runnable_backlog(session: AsyncSession, now: dt.datetime) -> bool:
    found = await session.scalar(
        select(Task.id).where(Task.state == TaskState.QUEUED, Task.run_at <= now).limit(1)
    )
    return found is not None


async def _enqueue_claimed(
    session: AsyncSession, *, reservation: Reservation, lease_s: float, now: dt.datetime, task: Task
) -> Task:
    """Create `task` already running under the reserved worker's lease (attempt 1); hand it over on commit."""
    try:
        return await _insert_claimed(session, reservation=reservation, lease_s=lease_s, now=now, task=task)
    except BaseException:
        drop_handoffs(session)
        reservation.release()  # not committed: the slot is free again (no-op if it was handed over)
        raise


async def _insert_claimed(
    session: AsyncSession, *, reservation: Reservation, lease_s: float, now: dt.datetime, task: Task
) -> Task:
    worker_id = reservation.worker_id
    task.state = TaskState.RUNNING
    task.attempt = 1
    task.tries = 1
    task.lease_owner = worker_id
    task.lease_expires_at = now + dt.timedelta(seconds=lease_s)
    task.started_at = now
    task.last_event_seq = 2  # `task.created`, `task.started`
    session.add(task)
    await session.flush()
    lease = Lease(task_id=task.id, attempt=1, worker_id=worker_id)
    await session.execute(
        _ATTEMPTS_TABLE.insert(),
        [
            {
                "id": new_id(),
                "task_id": task.id,
                "attempt": 1,
                "worker_id": worker_id,
                "status": AttemptStatus.RUNNING,
                "started_at": now,
            }
        ],
    )
    await session.execute(
        _EVENTS_TABLE.insert(),
        [
            {
                "task_id": task.id,
                "seq": 1,
                "type": "task.created",
                "attempt": None,
                "data": {"runner": task.runner},
                "created_at": now,
            },
            {
                "task_id": task.id,
                "seq": 2,
                "type": "task.started",
                "attempt": 1,
                "data": {"worker": worker_id},
                "created_at": now,
            },
        ],
    )
    note(session, EVENTS, str(task.id))
    note_handoff(
        session,
        reservation,
        Claimed(
            lease=lease,
            runner=task.runner,
            input=dict(task.input or {}),
            timeout_s=task.timeout_s,
            org_id=task.org_id,
            agent_id=task.agent_id,
            agent_version_id=task.agent_version_id,
            request_id=task.request_id,
            traceparent=task.traceparent,
            may_have_steps=False,
        ),
    )
    await session.commit()
    return task


def _queued(table: Any) -> Any:
    # Spelled out, not bound: the partial index's predicate must appear as such in the query for PostgreSQL
    # (in a generic plan) and SQLite to use the index.
    return table.c.state == literal_column(f"'{TaskState.QUEUED.value}'")


_IS_QUEUED = _queued(Task.__table__)


def _queued_agents() -> Any:
    """Every agent with queued tasks, by a recursive skip scan of the index `ix_tasks_claim_agent_order`.

    One index probe per agent, however many tasks each has queued.
    """
    probe: Any = Task.__table__.alias("probe")
    queued = _queued(probe)
    # `ORDER BY … LIMIT 1`, not `min()`: PostgreSQL has no `min(uuid)`, and this reads one index entry.
    lowest = select(probe.c.agent_id).where(queued).order_by(probe.c.agent_id).limit(1).scalar_subquery()
    agents = select(lowest.label("agent_id")).cte("agents", recursive=True)
    following = (
        select(probe.c.agent_id)
        .where(queued, probe.c.agent_id > agents.c.agent_id)
        .order_by(probe.c.agent_id)
        .limit(1)
        .scalar_subquery()
    )
    return agents.union_all(select(following).where(agents.c.agent_id.is_not(None)))


def _agent_heads(now: Any, per_agent: Any, *, lateral: bool) -> Any:
    """The first `per_agent` runnable queued tasks of every agent that has any, in claim order.

    Each agent's head is read from the index `ix_tasks_claim_agent_order` with a `LIMIT`: through `LATERAL`
    on PostgreSQL, and on SQLite (which has none) as a correlated `IN` list that drives lookups by primary
    key. What this returns grows with the number of agents that have work queued, never with the depth of
    any queue.

    The ranking over these heads is the ranking over the whole queue, for any claim of at most `per_agent`
    tasks: a task further back than `per_agent` in its agent's queue has at least `per_agent` tasks of the
    same organisation and agent ahead of it, so it ranks behind all of them, in its organisation and under
    its agent's limit alike.
    """
    agents = _queued_agents()
    columns = (Task.id, Task.org_id, Task.agent_id, Task.priority, Task.run_at, Task.concurrency_limit)
    if lateral:
        head = (
            select(*columns)
            .where(_IS_QUEUED, Task.agent_id == agents.c.agent_id, Task.run_at <= now)
            .order_by(Task.priority.desc(), Task.run_at, Task.id)
            .limit(per_agent)
            .lateral("head")
        )
        return select(head).select_from(agents.join(head, true())).cte("queue")
    inner: Any = Task.__table__.alias("inner")
    head_ids = (
        select(inner.c.id)
        .where(
            _queued(inner),
            inner.c.agent_id == agents.c.agent_id,
            inner.c.run_at <= now,
        )
        .order_by(inner.c.priority.desc(), inner.c.run_at, inner.c.id)
        .limit(per_agent)
    )
    return select(*columns).select_from(agents.join(Task, Task.id.in_(head_ids))).cte("queue")


def _candidates(first: Any, limit: Any, *, columns: bool = False) -> Any:
    """The next runnable tasks among `first`, fair across organisations and within every agent's limit.

    Ranked per organisation (each organisation's best task, then each one's second best, …) so that one
    organisation's backlog cannot starve the others; priority and age order the tasks within an organisation.
    A task of an agent with a limit is a candidate only while its rank among the agent's queued tasks plus the
    agent's running tasks stays within the limit.
    """
    # Running tasks are counted for the agents with queued tasks only (an index lookup each, not a scan).
    running = (
        select(Task.agent_id.label("agent_id"), func.count().label("running"))
        .where(Task.state == TaskState.RUNNING, Task.agent_id.in_(select(first.c.agent_id)))
        .group_by(Task.agent_id)
        .subquery()
    )
    order = (first.c.priority.desc(), first.c.run_at, first.c.id)
    queued = (
        select(
            first.c.id.label("id"),
            first.c.priority.label("priority"),
            first.c.run_at.label("run_at"),
            first.c.concurrency_limit.label("cap"),
            func.row_number().over(partition_by=first.c.org_id, order_by=order).label("org_rank"),
            func.row_number().over(partition_by=first.c.agent_id, order_by=order).label("agent_rank"),
            func.coalesce(running.c.running, 0).label("running"),
        )
        .select_from(first.outerjoin(running, running.c.agent_id == first.c.agent_id))
        .subquery()
    )
    picked = (
        (queued.c.id, queued.c.org_rank, queued.c.priority, queued.c.run_at) if columns else (queued.c.id,)
    )
    return (
        select(*picked)
        .where(or_(queued.c.cap.is_(None), queued.c.agent_rank + queued.c.running <= queued.c.cap))
        .order_by(queued.c.org_rank, queued.c.priority.desc(), queued.c.run_at, queued.c.id)
        .limit(limit)
    )


async def _within_limits_postgres(session: AsyncSession, locked: list[Any], limit: int) -> list[uuid.UUID]:
    """Trim locked candidates (in fair order) to the agents' free slots, exact under concurrent claimers.

    Claimers of the same limited agent serialise on a transaction-scoped advisory lock and recount that
    agent's running tasks, which then include every concurrent claim already committed.
    """
    if not locked:
        return []
    limited = sorted({row.agent_id for row in locked if row.concurrency_limit is not None})
    free: dict[uuid.UUID, int] = {}
    for agent_id in limited:  # sorted: every claimer takes the locks in the same order (no deadlock)
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(str(agent_id), 0))))
        running = await session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.agent_id == agent_id, Task.state == TaskState.RUNNING)
        )
        # Tasks frozen a limit when they were created; an agent's older tasks may have none (or another one).
        cap = min(
            r.concurrency_limit for r in locked if r.agent_id == agent_id and r.concurrency_limit is not None
        )
        free[agent_id] = max(cap - int(running or 0), 0)
    kept: list[uuid.UUID] = []
    for row in locked:  # in the candidates' fair order
        # As in the SQLite claim: every running or claimed task of a limited agent uses a slot, and a task
        # that carries a limit is not claimed once none is free (an older task without one still runs).
        if row.agent_id in free:
            if row.concurrency_limit is not None and free[row.agent_id] <= 0:
                continue
            free[row.agent_id] -= 1
        kept.append(row.id)
        if len(kept) == limit:
            break
    return kept


def _claim_statement(chosen: Any) -> Any:
    tasks: Any = Task.__table__
    return (
        tasks.update()
        .where(chosen, tasks.c.state == TaskState.QUEUED)
        .values(
            state=TaskState.RUNNING,
            attempt=tasks.c.attempt + 1,
            tries=tasks.c.tries + 1,
            lease_owner=bindparam("c_owner"),
            lease_expires_at=bindparam("c_expires"),
            started_at=func.coalesce(tasks.c.started_at, bindparam("c_now")),
            updated_at=bindparam("c_now"),
            last_event_seq=tasks.c.last_event_seq + 1,  # the `task.started` event's number
        )
        .returning(
            tasks.c.id,
            tasks.c.attempt,
            tasks.c.last_event_seq,
            tasks.c.runner,
            tasks.c.input,
            tasks.c.timeout_s,
            tasks.c.org_id,
            tasks.c.agent_id,
            tasks.c.agent_version_id,
            tasks.c.request_id,
            tasks.c.traceparent,
            tasks.c.parent_task_id,
        )
    )


def _lock_candidates() -> Any:
    # One statement ranks the candidates and locks the first free ones in that order (PostgreSQL): the window
    # functions stay in a derived table, and only the `tasks` rows are locked (`FOR UPDATE OF tasks`). Rows
    # another claimer holds are skipped, as a plain `… LIMIT n FOR UPDATE SKIP LOCKED` would skip them.
    tasks: Any = Task.__table__
    first = _agent_heads(bindparam("c_now"), bindparam("c_head"), lateral=True)
    ranked = _candidates(first, bindparam("c_limit"), columns=True).subquery("ranked")
    return (
        select(tasks.c.id, tasks.c.agent_id, tasks.c.concurrency_limit)
        .join(ranked, ranked.c.id == tasks.c.id)
        .where(tasks.c.state == TaskState.QUEUED)
        .order_by(ranked.c.org_rank, ranked.c.priority.desc(), ranked.c.run_at, ranked.c.id)
        .limit(bindparam("c_take"))
        .with_for_update(skip_locked=True, of=tasks)
    )


# Built once: constructing these expressions costs more CPU than running them (idle claim latency).
_CANDIDATES = _candidates(
    _agent_heads(bindparam("c_now"), bindparam("c_limit"), lateral=False), bindparam("c_limit")
)
_LOCK_CANDIDATES = _lock_candidates()
_CLAIM_IDS = _claim_statement(Task.__table__.c.id.in_(bindparam("c_ids", expanding=True)))
_CLAIM_NEXT = _claim_statement(Task.__table__.c.id.in_(_CANDIDATES.scalar_subquery()))


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed task: the lease, and what the worker needs to run it (no second read of the row)."""

    lease: Lease
    runner: str
    input: dict[str, Any]
    timeout_s: int | None
    org_id: uuid.UUID
    agent_id: uuid.UUID
    agent_version_id: uuid.UUID
    request_id: str | None
    traceparent: str | None
    # A first attempt of a task that is no retry has no stored steps: nothing to load.
    may_have_steps: bool


async def claim(session: AsyncSession, *, worker_id: str, limit: int, lease_s: float) -> list[Lease]:
    """Take up to `limit` runnable tasks for `worker_id` (see `claim_tasks`); only their leases."""
    return [c.lease for c in await claim_tasks(session, worker_id=worker_id, limit=limit, lease_s=lease_s)]


async def claim_tasks(session: AsyncSession, *, worker_id: str, limit: int, lease_s: float) -> list[Claimed]:
    """Take up to `limit` runnable tasks for `worker_id`, fairly across organisations, and commit.

    PostgreSQL: candidates are locked with `FOR UPDATE SKIP LOCKED`, so any number of workers claim
    concurrently without waiting on each other or taking the same task. SQLite: one statement under its
    single-writer lock. Either way no agent ever runs more tasks than its concurrency limit.
    """
    if limit <= 0:
        return []
    now = utcnow()
    params: dict[str, Any] = {
        "c_owner": worker_id,
        "c_now": now,
        "c_expires": now + dt.timedelta(seconds=lease_s),
    }
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # Lock, trim, then update exactly those ids: with `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE
        # SKIP LOCKED)` PostgreSQL may re-evaluate the subquery and take more than n rows.
        # Over-fetch: concurrent claimers see the same top candidates, and SKIP LOCKED leaves each of them
        # whatever the others have not locked yet.
        fetch = limit * 4 + 16
        locked = await session.execute(
            _LOCK_CANDIDATES,
            # Each agent's head holds the claim and a margin for rows other claimers hold: enough for the
            # ranking to be the whole queue's (see `_agent_heads`); the over-fetch is across agents.
            {"c_now": now, "c_limit": fetch, "c_head": limit + 16, "c_take": limit},
        )
        ids = await _within_limits_postgres(session, list(locked.all()), limit)
        if not ids:
            await session.commit()
            return []
        rows = (await session.execute(_CLAIM_IDS, params | {"c_ids": ids})).all()
    else:
        # SQLite has one writer at a time: a single UPDATE over the subquery is atomic (a separate SELECT
        # first would leave a stale read snapshot that cannot be upgraded to a write).
        rows = (await session.execute(_CLAIM_NEXT, params | {"c_limit": limit})).all()
    claimed = [
        Claimed(
            lease=Lease(task_id=row.id, attempt=row.attempt, worker_id=worker_id),
            runner=row.runner,
            input=dict(row.input or {}),
            timeout_s=row.timeout_s,
            org_id=row.org_id,
            agent_id=row.agent_id,
            agent_version_id=row.agent_version_id,
            request_id=row.request_id,
            traceparent=row.traceparent,
            may_have_steps=row.attempt > 1 or row.parent_task_id is not None,
        )
        for row in rows
    ]
    if claimed:
        # One statement per table for the whole batch: the attempts, and each task's `task.started` event.
        await session.execute(
            _ATTEMPTS_TABLE.insert(),
            [
                {
                    "id": new_id(),
                    "task_id": c.lease.task_id,
                    "attempt": c.lease.attempt,
                    "worker_id": worker_id,
                    "status": AttemptStatus.RUNNING,
                    "started_at": now,
                }
                for c in claimed
            ],
        )
        events = []
        for c, row in zip(claimed, rows, strict=True):
            events += _events(c.lease, row.last_event_seq, [("task.started", {"worker": worker_id})], now)
            note(session, EVENTS, str(c.lease.task_id))
        await session.execute(_EVENTS_TABLE.insert(), events)
    await session.commit()
    return claimed


async def heartbeat(session: AsyncSession, *, leases: Sequence[Lease], lease_s: float) -> int:
    """Extend exactly `leases` (the work a worker really has in flight), in one statement; how many held.

    Never "every task this worker owns": a task whose job ended without its outcome stored (a failed write)
    must be left to expire, so that the reaper hands it to another attempt.
    """
    if not leases:
        return 0
    now = utcnow()
    tasks: Any = Task.__table__
    renewed = 0
    for owner in {lease.worker_id for lease in leases}:
        pairs = [(lease.task_id, lease.attempt) for lease in leases if lease.worker_id == owner]
        result = await session.execute(
            tasks.update()
            .where(
                tuple_(tasks.c.id, tasks.c.attempt).in_(pairs),
                tasks.c.lease_owner == owner,
                tasks.c.state == TaskState.RUNNING,
            )
            .values(lease_expires_at=now + dt.timedelta(seconds=lease_s))
        )
        renewed += int(result.rowcount)  # type: ignore[attr-defined]
    await session.commit()
    return renewed


async def reap(session: AsyncSession, *, limit: int = 100) -> int:
    """Recover tasks whose lease expired: back to the queue with backoff, or to `dead` after the last attempt.

    Safe to run from every worker at once: each task is moved by a guarded UPDATE that only one can win.
    """
    now = utcnow()
    expired = (
        await session.scalars(
            select(Task)
            .where(Task.state == TaskState.RUNNING, Task.lease_expires_at < now)
            .order_by(Task.lease_expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    recovered = 0
    for task in expired:
        if task.cancel_requested_at is not None:
            target = TaskState.CANCELLED  # someone asked to stop it: running it again would be pointless
        elif task.tries >= task.max_attempts:
            target = TaskState.DEAD
        else:
            target = TaskState.QUEUED
        check_transition(TaskState.RUNNING, target)
        values: dict[str, Any] = {
            "state": target,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
        }
        if target is TaskState.QUEUED:
            values["run_at"] = now + dt.timedelta(seconds=backoff_of(task).delay(task.attempt))
        elif target is TaskState.CANCELLED:
            values["finished_at"] = now
        else:
            values["finished_at"] = now
            values["error"] = {
                "code": "lease_expired",
                "message": "the worker stopped answering; attempts exhausted",
            }
        result = await session.execute(
            update(Task)
            .where(
                Task.id == task.id,
                Task.attempt == task.attempt,
                Task.state == TaskState.RUNNING,
                Task.lease_expires_at < now,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another reaper, or the worker itself, got there first
        await session.execute(
            update(TaskAttempt)
            .where(TaskAttempt.task_id == task.id, TaskAttempt.attempt == task.attempt)
            .values(status=AttemptStatus.LOST, finished_at=now)
        )
        if target is TaskState.DEAD:
            await outbox.task_events(
                session, [(task.id, "task.failed", outbox.task_data(state="dead", error=values["error"]))]
            )
        await append_event(
            session,
            task_id=task.id,
            type="task.lease_expired",
            data={"worker": task.lease_owner, "next_state": target.value},
            attempt=task.attempt,
        )
        if target is TaskState.CANCELLED:
            await append_event(session, task_id=task.id, type="task.cancelled", attempt=task.attempt)
            await outbox.task_events(
                session, [(task.id, "task.cancelled", outbox.task_data(state="cancelled"))]
            )
        recovered += 1
    await session.commit()
    return recovered


async def _fenced_update(session: AsyncSession, lease: Lease, values: dict[str, Any]) -> None:
    result = await session.execute(
        update(Task).where(lease.guard()).values(**values).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise LeaseLost(
            f"task {lease.task_id} attempt {lease.attempt} is no longer held by {lease.worker_id}"
        )


_EVENTS_TABLE: Any = TaskEvent.__table__
_STEPS_TABLE: Any = TaskStep.__table__
_ATTEMPTS_TABLE: Any = TaskAttempt.__table__
_TASKS: Any = Task.__table__


def _events(
    lease: Lease, last_seq: int, events: list[tuple[str, dict[str, Any]]], at: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Rows for `events`, numbered so that the last one gets `last_seq`."""
    first = last_seq - len(events) + 1
    created = at or utcnow()
    return [
        {
            "task_id": lease.task_id,
            "seq": first + i,
            "type": type,
            "attempt": lease.attempt,
            "data": data,
            "created_at": created,
        }
        for i, (type, data) in enumerate(events)
    ]


async def _finish_attempt(
    session: AsyncSession, lease: Lease, status: AttemptStatus, error: Any = None
) -> None:
    await session.execute(
        update(TaskAttempt)
        .where(TaskAttempt.task_id == lease.task_id, TaskAttempt.attempt == lease.attempt)
        .values(status=status, finished_at=utcnow(), error=error)
    )


async def fail(session: AsyncSession, *, lease: Lease, error: dict[str, Any], retryable: bool) -> TaskState:
    """Record a failed attempt (fenced): requeued with backoff, `dead` when exhausted, `failed` if final.

    Whether the failure is retried is the error's call (`retryable`) unless the task's policy lists error
    classes (see `retry_decision`).
    """
    task = await session.get(Task, lease.task_id, populate_existing=True)
    if task is None:
        raise LeaseLost(f"task {lease.task_id} vanished")
    now = utcnow()
    retryable = retry_decision(task.policy, str(error.get("code", "")), retryable)
    if not retryable:
        target = TaskState.FAILED
    elif task.tries >= task.max_attempts:
        target = TaskState.DEAD
    else:
        target = TaskState.QUEUED
    values: dict[str, Any] = {
        "state": target,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
    }
    if target is TaskState.QUEUED:
        values["run_at"] = now + dt.timedelta(seconds=backoff_of(task).delay(lease.attempt))
    else:
        values |= {"finished_at": now, "error": error}
    await _fenced_update(session, lease, values)
    await _finish_attempt(session, lease, AttemptStatus.FAILED, error)
    if target is not TaskState.QUEUED:
        await outbox.task_events(
            session, [(lease.task_id, "task.failed", outbox.task_data(state=target.value, error=error))]
        )
    await append_event(
        session,
        task_id=lease.task_id,
        type="task.attempt_failed",
        data={"error": error, "next_state": target.value},
        attempt=lease.attempt,
    )
    await session.commit()
    return target


async def release(session: AsyncSession, *, lease: Lease, reason: str, delay_s: float = 0.0) -> None:
    """Give the task back to the queue (graceful shutdown, a database fault mid-run); no try is spent.

    With `delay_s` it runs again only after that pause (a fault that is not the task's).
    """
    now = utcnow()
    await _fenced_update(
        session,
        lease,
        # The run number stays unique (it fences); the try is given back: a release is not a failure.
        {
            "state": TaskState.QUEUED,
            "tries": Task.tries - 1,
            "lease_owner": None,
            "lease_expires_at": None,
            "run_at": now + dt.timedelta(seconds=delay_s),
            "updated_at": now,
        },
    )
    await _finish_attempt(session, lease, AttemptStatus.RELEASED)
    await append_event(
        session, task_id=lease.task_id, type="task.released", data={"reason": reason}, attempt=lease.attempt
    )
    note(session, WAKE)  # another worker may take it now
    await session.commit()


async def request_cancel(session: AsyncSession, *, task_id: uuid.UUID) -> TaskState:
    """Cancel a task: at once if queued or waiting; a running one is flagged and its worker stops it."""
    now = utcnow()
    cancellable = sources_of(TaskState.CANCELLED) - {TaskState.RUNNING}
    result = await session.execute(
        update(Task)
        .where(Task.id == task_id, Task.state.in_(cancellable))
        .values(state=TaskState.CANCELLED, cancel_requested_at=now, finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        await append_event(session, task_id=task_id, type="task.cancelled")
        # A cancelled task no longer waits for anyone's decision.
        await session.execute(
            update(TaskApproval)
            .where(TaskApproval.task_id == task_id, TaskApproval.status == ApprovalStatus.PENDING)
            .values(status=ApprovalStatus.CANCELLED, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        await outbox.task_events(session, [(task_id, "task.cancelled", outbox.task_data(state="cancelled"))])
        await session.commit()
        return TaskState.CANCELLED
    flagged = await session.execute(
        update(Task)
        .where(Task.id == task_id, Task.state == TaskState.RUNNING, Task.cancel_requested_at.is_(None))
        .values(cancel_requested_at=now)
        .execution_options(synchronize_session=False)
    )
    if flagged.rowcount == 1:  # type: ignore[attr-defined]
        note(session, CANCEL, str(task_id))  # the worker running it stops it now, not at its next poll
    await session.commit()
    state = await session.scalar(select(Task.state).where(Task.id == task_id))
    if state is None:
        raise LookupError(f"task {task_id} does not exist")
    return state


async def mark_cancelled(session: AsyncSession, *, lease: Lease) -> None:
    """The worker stopped a task whose cancellation was requested (fenced)."""
    now = utcnow()
    await _fenced_update(
        session,
        lease,
        {
            "state": TaskState.CANCELLED,
            "finished_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
        },
    )
    await _finish_attempt(session, lease, AttemptStatus.CANCELLED)
    await append_event(session, task_id=lease.task_id, type="task.cancelled", attempt=lease.attempt)
    await outbox.task_events(
        session, [(lease.task_id, "task.cancelled", outbox.task_data(state="cancelled"))]
    )
    await session.commit()


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Queue health at one instant."""

    by_state: dict[str, int]
    oldest_queued_age_s: float
    expired_leases: int


async def queue_stats(session: AsyncSession) -> QueueStats:
    """Counts by state, the oldest runnable task's age and the expired leases, in three small queries."""
    now = utcnow()
    by_state = {
        state.value: count
        for state, count in (
            await session.execute(select(Task.state, func.count()).group_by(Task.state))
        ).all()
    }
    oldest = await session.scalar(
        select(func.min(Task.run_at)).where(Task.state == TaskState.QUEUED, Task.run_at <= now)
    )
    expired = await session.scalar(
        select(func.count())
        .select_from(Task)
        .where(Task.state == TaskState.RUNNING, Task.lease_expires_at < now)
    )
    return QueueStats(
        by_state={s.value: by_state.get(s.value, 0) for s in TaskState},
        oldest_queued_age_s=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        expired_leases=int(expired or 0),
    )


# --- waiting -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A wait that is a human's decision on a tool call: what to show them."""

    tool: str
    arguments: dict[str, Any]
    reason: str


async def wait(
    session: AsyncSession,
    *,
    lease: Lease,
    step_key: str,
    position: int,
    until: dt.datetime,
    default: Any,
    approval: ApprovalRequest | None = None,
) -> None:
    """Park the task until a signal for `step_key` (or `until`, then `default`); frees the worker slot.

    With `approval`, the wait is an approval request: its row is created in this same transaction, so it is
    visible exactly while the task waits for it, and it can be decided only through the approvals API.
    """
    now = utcnow()
    await _fenced_update(
        session,
        lease,
        {
            "state": TaskState.WAITING,
            "wait_until": until,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
        },
    )
    step = await session.scalar(
        select(TaskStep).where(TaskStep.task_id == lease.task_id, TaskStep.step_key == step_key)
    )
    if step is None:
        session.add(
            TaskStep(
                task_id=lease.task_id,
                step_key=step_key,
                position=position,
                kind="wait" if approval is None else "approval",
                name=step_key if approval is None else approval.tool,
                attempt=lease.attempt,
                idempotency_key=step_idempotency_key(lease.task_id, step_key),
                input={"default": default, "until": until.isoformat()},
                status=StepStatus.RUNNING,
            )
        )
    data: dict[str, Any] = {"step": step_key, "until": until.isoformat()}
    if approval is not None:
        data["approval"] = await _request_approval(
            session, lease=lease, step_key=step_key, until=until, approval=approval
        )
    await _finish_attempt(session, lease, AttemptStatus.RELEASED)
    await append_event(session, task_id=lease.task_id, type="task.waiting", data=data, attempt=lease.attempt)
    await session.commit()


async def _request_approval(
    session: AsyncSession, *, lease: Lease, step_key: str, until: dt.datetime, approval: ApprovalRequest
) -> dict[str, Any]:
    """Create (once) the approval row of a wait, and queue the `task.waiting_for_approval` webhooks."""
    existing = await session.scalar(
        select(TaskApproval).where(TaskApproval.task_id == lease.task_id, TaskApproval.step_key == step_key)
    )
    if existing is None:
        org_id = await session.scalar(select(Task.org_id).where(Task.id == lease.task_id))
        existing = TaskApproval(
            id=new_id(),
            org_id=org_id,
            task_id=lease.task_id,
            step_key=step_key,
            tool=approval.tool,
            arguments=approval.arguments,
            reason=approval.reason[:500],
            status=ApprovalStatus.PENDING,
            requested_at=utcnow(),
            expires_at=until,
        )
        session.add(existing)
    shown = {
        "id": str(existing.id),
        "tool": existing.tool,
        "arguments": existing.arguments,
        "reason": existing.reason,
        "expires_at": until.isoformat(),
    }
    await outbox.task_events(
        session,
        [
            (
                lease.task_id,
                "task.waiting_for_approval",
                outbox.task_data(state="waiting") | {"approval": shown},
            )
        ],
    )
    return shown


async def resolve_wait(
    session: AsyncSession, *, task_id: uuid.UUID, step_key: str, output: Any, how: str
) -> bool:
    """Complete a wait step and queue its task again (only if the task is still waiting); not committed.

    `how` names the event (`task.signalled`, `task.approved`, …). A wait that timed out also closes its
    pending approval request, if it is one, as `expired`.
    """
    now = utcnow()
    result = await session.execute(
        update(Task)
        .where(Task.id == task_id, Task.state == TaskState.WAITING)
        .values(
            state=TaskState.QUEUED,
            wait_until=None,
            run_at=now,
            # The wait ended a run without using a try: the resumed run continues the same one.
            tries=Task.tries - 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await session.execute(
        update(TaskStep)
        .where(TaskStep.task_id == task_id, TaskStep.step_key == step_key)
        .values(status=StepStatus.SUCCEEDED, output=output, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    if how == "wait_timed_out":
        await _expire_approval(session, task_id=task_id, step_key=step_key, now=now)
    await append_event(session, task_id=task_id, type=f"task.{how}", data={"step": step_key})
    note(session, WAKE)
    return True


async def _expire_approval(
    session: AsyncSession, *, task_id: uuid.UUID, step_key: str, now: dt.datetime
) -> None:
    """Nobody decided in time: the request closes as `expired` (the default, deny, applies) — audited."""
    expired = (
        await session.execute(
            update(TaskApproval)
            .where(
                TaskApproval.task_id == task_id,
                TaskApproval.step_key == step_key,
                TaskApproval.status == ApprovalStatus.PENDING,
            )
            .values(status=ApprovalStatus.EXPIRED, decided_at=now, comment="timed out: the default applied")
            .returning(TaskApproval.id, TaskApproval.org_id, TaskApproval.tool)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if expired is not None:
        record_audit_event(
            session,
            action="approval.expired",
            org_id=expired.org_id,
            actor_type="system",
            actor_id=None,
            target_type="task",
            target_id=str(task_id),
            details={"approval_id": str(expired.id), "tool": expired.tool, "step": step_key},
        )


async def signal(session: AsyncSession, *, task_id: uuid.UUID, step_key: str, payload: Any) -> bool:
    """Deliver a signal to a waiting task: its wait step completes with `payload`; the task is requeued."""
    waiting_on = await session.scalar(
        select(TaskStep.step_key).where(
            TaskStep.task_id == task_id,
            TaskStep.step_key == step_key,
            TaskStep.status == StepStatus.RUNNING,
            # An approval is decided through the approvals API (checked and audited there), not signalled.
            TaskStep.kind == "wait",
        )
    )
    if waiting_on is None:
        return False
    resumed = await resolve_wait(
        session, task_id=task_id, step_key=step_key, output={"signal": payload}, how="signalled"
    )
    await session.commit()
    return resumed


async def wake_expired_waits(session: AsyncSession, *, limit: int = 100) -> int:
    """Apply the default of every wait whose time is up (run by the reaper)."""
    now = utcnow()
    due = (
        await session.execute(
            select(Task.id, TaskStep.step_key, TaskStep.input)
            .join(TaskStep, TaskStep.task_id == Task.id)
            .where(
                Task.state == TaskState.WAITING,
                Task.wait_until < now,
                TaskStep.kind.in_(("wait", "approval")),
                TaskStep.status == StepStatus.RUNNING,
            )
            .limit(limit)
        )
    ).all()
    woken = 0
    for task_id, step_key, step_input in due:
        default = (step_input or {}).get("default")
        if await resolve_wait(
            session,
            task_id=task_id,
            step_key=step_key,
            output={"timed_out": True, "signal": default},
            how="wait_timed_out",
        ):
            woken += 1
    await session.commit()
    return woken


# --- step checkpoints --------------------------------------------------------------------------------------


def step_idempotency_key(task_id: uuid.UUID, step_key: str) -> str:
    """A stable key a side-effecting step can pass on (same task and step → same key, on every attempt)."""
    return hashlib.sha256(f"{task_id}:{step_key}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class StepRecord:
    """What a runner needs to know about a step stored by an earlier attempt."""

    status: StepStatus
    output: Any


async def load_steps(session: AsyncSession, *, task_id: uuid.UUID) -> dict[str, StepRecord]:
    """Every step the task has stored (one query when an attempt starts, instead of one per step)."""
    rows = await session.execute(
        select(TaskStep.step_key, TaskStep.status, TaskStep.output).where(TaskStep.task_id == task_id)
    )
    return {key: StepRecord(status, output) for key, status, output in rows}


def _step_row(
    lease: Lease, *, step_key: str, position: int, kind: str, name: str, input: Any, started_at: dt.datetime
) -> dict[str, Any]:
    return {
        "task_id": lease.task_id,
        "step_key": step_key,
        "position": position,
        "kind": kind,
        "name": name,
        "attempt": lease.attempt,
        "idempotency_key": step_idempotency_key(lease.task_id, step_key),
        "input": input,
        "started_at": started_at,
    }


async def _upsert_step(session: AsyncSession, row: dict[str, Any], *, exists: bool) -> None:
    # A step left behind by an earlier attempt (crashed mid-step, or failed) is taken over, not duplicated.
    if exists:
        key = {"task_id": row["task_id"], "step_key": row["step_key"]}
        values = {k: v for k, v in row.items() if k not in key}
        await session.execute(
            update(TaskStep)
            .where(TaskStep.task_id == key["task_id"], TaskStep.step_key == key["step_key"])
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    else:
        await session.execute(_STEPS_TABLE.insert(), [{"id": new_id(), **row}])


async def insert_steps(session: AsyncSession, rows: list[dict[str, Any]], *, upsert: bool = False) -> None:
    """Insert new step rows; with `upsert`, a row already there (a retried write) is overwritten instead."""
    if not upsert:
        await session.execute(_STEPS_TABLE.insert(), rows)
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(_STEPS_TABLE)
    kept = ("id", "task_id", "step_key")
    statement = statement.on_conflict_do_update(
        index_elements=["task_id", "step_key"],
        set_={c.name: statement.excluded[c.name] for c in _STEPS_TABLE.columns if c.name not in kept},
    )
    await session.execute(statement, rows)


def _step_outcome(step_key: str, error: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    if error:
        return "step.failed", {"step": step_key, "error": error}
    return "step.succeeded", {"step": step_key}


async def cancellation_requested(session: AsyncSession, *, task_id: uuid.UUID) -> bool:
    """Whether the running task's cancellation was requested (a signal is only a hint; this is the truth)."""
    requested = await session.scalar(
        select(Task.cancel_requested_at).where(Task.id == task_id, Task.state == TaskState.RUNNING)
    )
    return requested is not None


async def cancellations_for(session: AsyncSession, *, worker_id: str) -> list[uuid.UUID]:
    """Running tasks of `worker_id` whose cancellation was requested (one query per worker per interval)."""
    return list(
        (
            await session.scalars(
                select(Task.id).where(
                    Task.lease_owner == worker_id,
                    Task.state == TaskState.RUNNING,
                    Task.cancel_requested_at.is_not(None),
                )
            )
        ).all()
    )
