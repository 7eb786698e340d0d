"""Group commit of checkpoints: the step results and completions of many tasks in one transaction.

A worker runs hundreds of tasks at once, and each finished step must be durable before its task goes on.
Committing each checkpoint on its own costs a transaction (and a WAL flush) per step; here checkpoints
that arrive while a commit is in flight wait for the next one, which carries all of them. A lone checkpoint
is written at once (no added latency when idle); under load a transaction carries dozens.

Each checkpoint keeps its own fence: its task row is updated only while its lease holds. A checkpoint whose
lease was lost is left out of the batch and its caller gets `LeaseLost`; the others commit.

A batch whose transaction fails (a dropped connection, a failed commit) is written again, on a fresh
connection, a few times with backoff before its callers hear of the failure: one lost connection must not
cost every task in the batch an attempt. A retried write cannot know whether the failed commit landed, so it
stores steps with an upsert; at worst (a commit that landed but whose answer was lost) a step's events appear
twice in the log, never a step twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import bindparam, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.db.models import AttemptStatus, StepStatus, TaskAttempt, TaskState
from agentic.db.types import utcnow
from agentic.engine import store
from agentic.engine.signals import EVENTS, note
from agentic.engine.store import Lease, LeaseLost
from agentic.ids import new_id
from agentic.logging import get_logger
from agentic.webhooks import outbox

log = get_logger("agentic.engine")

# Bounds one transaction (and one INSERT's parameter list).
_MAX_BATCH = 200
# A failed batch is written again after these pauses (about 3 s in all, well inside any lease).
_RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)

_TASKS: Any = store._TASKS
_ATTEMPTS: Any = TaskAttempt.__table__
# Completions of many tasks: the fenced state change (one statement), their outputs (one executemany) and
# their attempts (one statement).
_COMPLETE_MANY = (
    _TASKS.update()
    .where(
        tuple_(_TASKS.c.id, _TASKS.c.attempt).in_(bindparam("f_pairs", expanding=True)),
        _TASKS.c.lease_owner == bindparam("f_owner"),
        _TASKS.c.state == TaskState.RUNNING,
    )
    .values(
        last_event_seq=_TASKS.c.last_event_seq + 1,
        state=TaskState.SUCCEEDED,
        finished_at=bindparam("f_now"),
        updated_at=bindparam("f_now"),
        lease_owner=None,
        lease_expires_at=None,
    )
    .returning(_TASKS.c.id, _TASKS.c.last_event_seq)
)
_SET_OUTPUT = (
    _TASKS.update()
    .where(_TASKS.c.id == bindparam("o_id"))
    .values(output=bindparam("o_output", type_=_TASKS.c.output.type))
)
# The fence of many checkpoints at once: same worker, same number of events, one statement.
_FENCE_MANY = (
    _TASKS.update()
    .where(
        tuple_(_TASKS.c.id, _TASKS.c.attempt).in_(bindparam("f_pairs", expanding=True)),
        _TASKS.c.lease_owner == bindparam("f_owner"),
        _TASKS.c.state == TaskState.RUNNING,
    )
    .values(last_event_seq=_TASKS.c.last_event_seq + bindparam("f_count"), updated_at=bindparam("f_now"))
    .returning(_TASKS.c.id, _TASKS.c.last_event_seq)
)
_ATTEMPTS_SUCCEEDED = (
    _ATTEMPTS.update()
    .where(tuple_(_ATTEMPTS.c.task_id, _ATTEMPTS.c.attempt).in_(bindparam("a_pairs", expanding=True)))
    .values(status=AttemptStatus.SUCCEEDED, finished_at=bindparam("a_now"))
)


@dataclass(slots=True)
class _Checkpoint:
    lease: Lease
    # A step: its row and its two events; or the task's completion (output set, no step).
    step: dict[str, Any] | None = None
    step_exists: bool = False
    finished: bool = True
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    started_at: dt.datetime | None = None
    complete: bool = False
    output: Any = None
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class CheckpointWriter:
    """Batches the checkpoints of one worker process into shared transactions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._queue: list[_Checkpoint] = []
        self._flusher: asyncio.Task[None] | None = None

    async def step(
        self,
        *,
        lease: Lease,
        step_key: str,
        position: int,
        kind: str,
        name: str,
        input: Any,
        started_at: dt.datetime,
        exists: bool,
        phase: Literal["whole", "start", "end"] = "whole",
        output: Any = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        """Store a step; durable on return.

        `whole`: a step that ran quickly — its row, `step.started` and its outcome together. A long step is
        stored in two parts: `start` (the row as running, `step.started`) while it runs, `end` when it ends.
        """
        row = store._step_row(
            lease,
            step_key=step_key,
            position=position,
            kind=kind,
            name=name,
            input=input,
            started_at=started_at,
        )
        started = ("step.started", {"step": step_key, "kind": kind, "name": name})
        if phase == "start":
            row |= {"status": StepStatus.RUNNING, "output": None, "error": None}
            events = [started]
        else:
            row |= {
                "status": StepStatus.FAILED if error else StepStatus.SUCCEEDED,
                "output": output,
                "error": error,
            }
            events = (
                [started, store._step_outcome(step_key, error)]
                if phase == "whole"
                else [store._step_outcome(step_key, error)]
            )
        await self._submit(
            _Checkpoint(
                lease=lease,
                step=row,
                step_exists=exists,
                finished=phase != "start",
                events=events,
                started_at=started_at if phase != "end" else None,
            )
        )

    async def event(self, *, lease: Lease, type: str, data: dict[str, Any]) -> None:
        """Append an event (e.g. a batch of streamed tokens); durable on return."""
        await self._submit(_Checkpoint(lease=lease, events=[(type, data)]))

    async def complete(self, *, lease: Lease, output: Any) -> None:
        """Mark the task succeeded with its output; durable on return."""
        await self._submit(
            _Checkpoint(lease=lease, events=[("task.succeeded", {})], complete=True, output=output)
        )

    async def _submit(self, checkpoint: _Checkpoint) -> None:
        self._queue.append(checkpoint)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        await checkpoint.done

    async def _flush_all(self) -> None:
        while self._queue:
            batch: list[_Checkpoint] = []
            rest: list[_Checkpoint] = []
            seen: set[Any] = set()
            for checkpoint in self._queue:
                # One checkpoint per task per transaction (a task's next one waits for this one anyway).
                if len(batch) < _MAX_BATCH and checkpoint.lease.task_id not in seen:
                    batch.append(checkpoint)
                    seen.add(checkpoint.lease.task_id)
                else:
                    rest.append(checkpoint)
            self._queue = rest
            try:
                await self._write_retrying(batch)
            except BaseException as exc:
                for checkpoint in batch:
                    if not checkpoint.done.done():
                        checkpoint.done.set_exception(
                            exc if isinstance(exc, Exception) else RuntimeError("cancelled")
                        )
                if not isinstance(exc, Exception):
                    raise

    @staticmethod
    async def _fence_and_number(
        session: AsyncSession, batch: list[_Checkpoint], now: dt.datetime
    ) -> dict[Any, int]:
        """Check every checkpoint's lease and reserve its event numbers; the last number, by task.

        Checkpoints of one worker that carry the same number of events share one statement (`(id, attempt)
        IN (…)`); a completion, which also stores the task's output, has its own. A task missing from the
        result failed its fence.
        """
        numbered: dict[Any, int] = {}
        # (worker, events carried, completion?) -> its checkpoints: one fenced statement per group.
        groups: dict[tuple[str, int, bool], list[_Checkpoint]] = defaultdict(list)
        for checkpoint in batch:
            groups[(checkpoint.lease.worker_id, len(checkpoint.events), checkpoint.complete)].append(
                checkpoint
            )
        for (owner, count, complete), members in groups.items():
            params = {
                "f_pairs": [(c.lease.task_id, c.lease.attempt) for c in members],
                "f_owner": owner,
                "f_now": now,
            }
            if complete:
                rows = await session.execute(_COMPLETE_MANY, params)
            else:
                rows = await session.execute(_FENCE_MANY, params | {"f_count": count})
            numbered.update({task_id: int(seq) for task_id, seq in rows})
        return numbered

    async def _write_retrying(self, batch: list[_Checkpoint]) -> None:
        for tries, delay in enumerate((*_RETRY_DELAYS_S, None), start=1):
            try:
                await self._write(batch, retried=tries > 1)
                return
            except Exception as exc:
                if delay is None:
                    raise
                log.warning(
                    "engine.checkpoint_retry",
                    checkpoints=len(batch),
                    tries=tries,
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
                await asyncio.sleep(delay)

    async def _write(self, batch: list[_Checkpoint], *, retried: bool = False) -> None:
        now = utcnow()
        lost: list[_Checkpoint] = []
        kept: list[_Checkpoint] = []
        async with self._sessions() as session:
            events: list[dict[str, Any]] = []
            new_steps: list[dict[str, Any]] = []
            completed: list[_Checkpoint] = []
            numbered = await self._fence_and_number(session, batch, now)
            for checkpoint in batch:
                lease = checkpoint.lease
                seq = numbered.get(lease.task_id)
                if seq is None:
                    lost.append(checkpoint)  # its fence failed: nothing of it was written
                    continue
                kept.append(checkpoint)
                rows = store._events(lease, int(seq), checkpoint.events, now)
                if checkpoint.started_at is not None:
                    rows[0]["created_at"] = checkpoint.started_at
                events += rows
                note(session, EVENTS, str(lease.task_id))
                if checkpoint.complete:
                    completed.append(checkpoint)
                elif checkpoint.step is not None:
                    row = checkpoint.step | {"finished_at": now if checkpoint.finished else None}
                    if checkpoint.step_exists:
                        await store._upsert_step(session, row, exists=True)
                    else:
                        new_steps.append({"id": new_id(), **row})
            if completed:
                await session.execute(
                    _SET_OUTPUT, [{"o_id": c.lease.task_id, "o_output": c.output} for c in completed]
                )
                await session.execute(
                    _ATTEMPTS_SUCCEEDED,
                    {"a_pairs": [(c.lease.task_id, c.lease.attempt) for c in completed], "a_now": now},
                )
                await outbox.task_events(
                    session,
                    [
                        (
                            c.lease.task_id,
                            "task.succeeded",
                            outbox.task_data(state="succeeded", output=c.output),
                        )
                        for c in completed
                    ],
                )
            if new_steps:
                await store.insert_steps(session, new_steps, upsert=retried)
            if events:
                await session.execute(store._EVENTS_TABLE.insert(), events)
            await session.commit()
        _settle(kept, lost)


def _settle(kept: list[_Checkpoint], lost: list[_Checkpoint]) -> None:
    for checkpoint in kept:
        if not checkpoint.done.done():  # its caller may have been cancelled meanwhile
            checkpoint.done.set_result(None)
    for checkpoint in lost:
        lease = checkpoint.lease
        if not checkpoint.done.done():
            checkpoint.done.set_exception(
                LeaseLost(
                    f"task {lease.task_id} attempt {lease.attempt} is no longer held by {lease.worker_id}"
                )
            )
