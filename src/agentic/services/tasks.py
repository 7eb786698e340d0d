"""Tasks as the API sees them: creation (idempotent), reading, cancellation, events, the dead-letter queue."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from agentic.db.models import (
    Agent,
    AgentVersion,
    Task,
    TaskAttempt,
    TaskEvent,
    TaskFile,
    TaskState,
    TaskStep,
)
from agentic.db.types import utcnow
from agentic.engine import store
from agentic.engine.signals import WAKE, note
from agentic.errors import AgenticError, Conflict, InvalidInput, NotFound
from agentic.ids import new_id
from agentic.prompts import validate_input
from agentic.security.throttle import Throttle
from agentic.services.audit import Actor

# The parts of an agent's policies a task keeps for its whole life (retries read them on any worker).
_FROZEN_POLICY = ("backoff_base_s", "backoff_max_s", "retryable_errors", "non_retryable_errors")


class AgentBusy(AgenticError):
    """The agent is at its concurrency limit and its policy is to reject, not queue."""

    code = "agent_busy"
    status_code = 429


class IdempotencyConflict(Conflict):
    """The Idempotency-Key was used for a different request."""

    code = "idempotency_key_reused"


def request_fingerprint(body: dict[str, Any]) -> str:
    """A stable hash of a creation request, to tell a replay from a different request under the same key."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def create_task(
    session: AsyncSession,
    *,
    org_id: uuid.UUID,
    created_by_id: uuid.UUID | None,
    request_id: str | None,
    agent_id: uuid.UUID,
    input: dict[str, Any],
    priority: int,
    run_at: dt.datetime | None,
    idempotency_key: str | None,
    idempotency_window_s: int,
    traceparent: str | None = None,
    files: dict[str, bytes] | None = None,
    throttle: Throttle | None = None,
    agent: Agent | None = None,
) -> tuple[Task, bool]:
    """Queue a run of the agent's current version; returns the task and whether it was created now.

    Same Idempotency-Key and same body within the window → the original task. Same key, different body → 409.
    `files` (name → bytes) are the task's input files, stored with it in the same transaction. `agent`, when
    the caller has already loaded it in this session, saves a query.
    """
    given = files or {}
    fingerprint = request_fingerprint(
        {
            "agent_id": str(agent_id),
            "input": input,
            "priority": priority,
            "run_at": run_at,
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in given.items()},
        }
    )
    if idempotency_key is not None:
        existing = await _by_key(session, idempotency_key)
        if existing is not None:
            if existing.created_at >= utcnow() - dt.timedelta(seconds=idempotency_window_s):
                return _replay(existing, fingerprint), False
            # Past the window the key is forgotten: free it for this request.
            existing.idempotency_key = None
            await session.flush()
    if agent is None or agent.id != agent_id:
        agent = await session.get(Agent, agent_id)
    if agent is None or agent.deleted_at is not None:
        raise NotFound("Agent not found.")
    version = await session.scalar(
        select(AgentVersion).where(
            AgentVersion.agent_id == agent.id, AgentVersion.version == agent.latest_version
        )
    )
    if version is None:
        raise InvalidInput("The agent has no version to run.")
    # The input must match the variables the agent declares (errors name the fields), before it is queued.
    validate_input((version.config or {}).get("input_schema"), input, loc=["body", "input"])
    policies = dict((version.config or {}).get("policies") or {})
    per_minute = policies.get("runs_per_minute")
    if per_minute is not None and throttle is not None:
        await throttle.acquire(
            Throttle.limit(int(per_minute), 60),
            "agent_runs",
            str(agent.id),
            message=f"The agent takes at most {per_minute} new runs a minute; try again later.",
        )
    cap = policies.get("max_concurrent_runs")
    if cap is not None and policies.get("on_limit") == "reject":
        running = await session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.agent_id == agent.id, Task.state == TaskState.RUNNING)
        )
        if int(running or 0) >= int(cap):
            raise AgentBusy(
                f"The agent already runs {cap} task(s), its limit; try again later.",
                details={"max_concurrent_runs": int(cap)},
                headers={"Retry-After": "5"},
            )
    task_id = new_id()
    for name, data in given.items():
        session.add(_file(org_id=org_id, task_id=task_id, direction="in", name=name, data=data))
    try:
        # The files go in with the task's own flush (after it, by their foreign key), not before it.
        with session.no_autoflush:
            task = await store.enqueue(
                session,
                task_id=task_id,
                org_id=org_id,
                agent_id=agent.id,
                agent_version_id=version.id,
                input=input,
                runner="agent",
                priority=priority,
                run_at=run_at,
                max_attempts=int(policies.get("max_attempts", 3)),
                policy={k: policies[k] for k in _FROZEN_POLICY if k in policies},
                timeout_s=policies.get("timeout_s"),
                concurrency_limit=int(cap) if cap is not None else None,
                created_by_id=created_by_id,
                idempotency_key=idempotency_key,
                request_hash=fingerprint if idempotency_key else None,
                request_id=request_id,
                traceparent=traceparent,
            )
    except IntegrityError:
        # A concurrent request with the same key won the race: answer as a replay of it.
        await session.rollback()
        existing = await _by_key(session, idempotency_key or "")
        if existing is None:
            raise
        return _replay(existing, fingerprint), False
    return task, True


async def _by_key(session: AsyncSession, key: str) -> Task | None:
    return await session.scalar(select(Task).where(Task.idempotency_key == key))


def _replay(existing: Task, fingerprint: str) -> Task:
    if existing.request_hash != fingerprint:
        raise IdempotencyConflict("This Idempotency-Key was already used for a different request.")
    return existing


async def get_task(session: AsyncSession, *, task_id: uuid.UUID, owner_id: uuid.UUID | None) -> Task:
    """A task of the session's organisation (and of `owner_id` when given), or `NotFound`."""
    task = await session.get(Task, task_id)
    if task is None or (owner_id is not None and task.created_by_id != owner_id):
        raise NotFound("Task not found.")
    return task


async def list_tasks(
    session: AsyncSession,
    *,
    owner_id: uuid.UUID | None,
    states: list[TaskState] | None,
    agent_id: uuid.UUID | None,
    limit: int,
    before_id: uuid.UUID | None,
) -> list[Task]:
    """Tasks newest first (UUIDv7 ids sort by creation), filtered; keyset pagination on the id."""
    statement = select(Task).order_by(Task.id.desc()).limit(limit)
    if owner_id is not None:
        statement = statement.where(Task.created_by_id == owner_id)
    if states:
        statement = statement.where(Task.state.in_(states))
    if agent_id is not None:
        statement = statement.where(Task.agent_id == agent_id)
    if before_id is not None:
        statement = statement.where(Task.id < before_id)
    return list((await session.scalars(statement)).all())


def _file(
    *,
    org_id: uuid.UUID,
    task_id: uuid.UUID,
    direction: str,
    name: str,
    data: bytes,
    step_key: str | None = None,
) -> TaskFile:
    return TaskFile(
        org_id=org_id,
        task_id=task_id,
        direction=direction,
        name=name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
        step_key=step_key,
    )


def decode_files(files: list[tuple[str, str]], *, max_files: int, max_bytes: int) -> dict[str, bytes]:
    """Input files from their base64 form, within the server's caps; errors name the file.

    Raises:
        InvalidInput: Too many, too large, not base64, or a name given twice.
    """
    if len(files) > max_files:
        raise InvalidInput(
            f"At most {max_files} files per task.", details=[{"loc": ["body", "files"], "type": "too_many"}]
        )
    decoded: dict[str, bytes] = {}
    total = 0
    for index, (name, encoded) in enumerate(files):
        loc = ["body", "files", index]
        if name in decoded:
            raise InvalidInput(f"The file {name!r} is given twice.", details=[{"loc": [*loc, "name"]}])
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                f"The file {name!r} is not valid base64.", details=[{"loc": [*loc, "content_base64"]}]
            ) from None
        total += len(data)
        if total > max_bytes:
            raise InvalidInput(
                f"The files exceed {max_bytes} bytes in all.", details=[{"loc": [*loc, "content_base64"]}]
            )
        decoded[name] = data
    return decoded


async def list_files(session: AsyncSession, *, task_id: uuid.UUID) -> list[TaskFile]:
    """The task's files (inputs, then outputs, by name), without loading their contents."""
    return list(
        (
            await session.scalars(
                select(TaskFile)
                .options(defer(TaskFile.content))
                .where(TaskFile.task_id == task_id)
                .order_by(TaskFile.direction, TaskFile.name)
            )
        ).all()
    )


async def get_file(session: AsyncSession, *, task_id: uuid.UUID, file_id: uuid.UUID) -> TaskFile:
    """One of the task's files with its content, or `NotFound`."""
    found = await session.get(TaskFile, file_id)
    if found is None or found.task_id != task_id:
        raise NotFound("File not found.")
    return found


async def save_outputs(
    session: AsyncSession, *, org_id: uuid.UUID, task_id: uuid.UUID, step_key: str, files: dict[str, bytes]
) -> None:
    """Store files a tool wrote (a later write of the same name replaces the earlier one) and commit."""
    if not files:
        return
    await session.execute(
        delete(TaskFile).where(
            TaskFile.task_id == task_id, TaskFile.direction == "out", TaskFile.name.in_(list(files))
        )
    )
    for name, data in files.items():
        session.add(
            _file(org_id=org_id, task_id=task_id, direction="out", name=name, data=data, step_key=step_key)
        )
    await session.commit()


async def input_files(session: AsyncSession, *, task_id: uuid.UUID) -> dict[str, bytes]:
    """The task's input files by name."""
    rows = await session.execute(
        select(TaskFile.name, TaskFile.content).where(TaskFile.task_id == task_id, TaskFile.direction == "in")
    )
    return {name: bytes(content) for name, content in rows}


async def cancel_task(session: AsyncSession, *, task: Task, actor: Actor) -> TaskState:
    """Cancel: at once if queued or waiting; a running task is stopped mid-step by its worker (signalled)."""
    if task.state in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.DEAD):
        raise Conflict(f"The task is {task.state.value}; there is nothing to cancel.", code="task_finished")
    state = await store.request_cancel(session, task_id=task.id)
    actor.audit(session, "task.cancel_requested", target_type="task", target_id=str(task.id))
    await session.commit()
    return state


async def retry_task(
    session: AsyncSession,
    *,
    task: Task,
    actor: Actor,
    from_step: int | None,
    input: dict[str, Any] | None,
    agent_version: int | None,
    traceparent: str | None = None,
) -> Task:
    """A new task that replays the original's completed steps before `from_step` and runs the rest.

    Without `from_step` every completed step is replayed: the run resumes where it failed, and no LLM call
    that already succeeded is paid for again.
    """
    if task.state not in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.DEAD):
        raise Conflict("Only a finished task can be retried.", code="task_not_finished")
    version_id = task.agent_version_id
    if agent_version is not None:
        version_id_or_none = await session.scalar(
            select(AgentVersion.id).where(
                AgentVersion.agent_id == task.agent_id, AgentVersion.version == agent_version
            )
        )
        if version_id_or_none is None:
            raise NotFound(f"The agent has no version {agent_version}.")
        version_id = version_id_or_none
    source_steps = await list_steps(session, task_id=task.id)
    replayed = [
        s for s in source_steps if s.status == "succeeded" and (from_step is None or s.position < from_step)
    ]
    assert actor.org_id is not None  # noqa: S101
    retried = Task(
        org_id=actor.org_id,
        agent_id=task.agent_id,
        agent_version_id=version_id,
        parent_task_id=task.id,
        input=input if input is not None else dict(task.input or {}),
        runner=task.runner,
        priority=task.priority,
        run_at=utcnow(),
        max_attempts=task.max_attempts,
        policy=dict(task.policy or {}),
        timeout_s=task.timeout_s,
        created_by_id=actor.user_id,
        request_id=actor.request_id,
        traceparent=traceparent,
        concurrency_limit=task.concurrency_limit,
        state=TaskState.QUEUED,
        last_event_seq=0,
    )
    session.add(retried)
    await session.flush()
    # The new run gets the same input files.
    for name, data in (await input_files(session, task_id=task.id)).items():
        session.add(_file(org_id=actor.org_id, task_id=retried.id, direction="in", name=name, data=data))
    for step in replayed:
        session.add(
            TaskStep(
                task_id=retried.id,
                step_key=step.step_key,
                position=step.position,
                kind=step.kind,
                name=step.name,
                status=step.status,
                attempt=0,  # produced by the original task, not by an attempt of this one
                idempotency_key=store.step_idempotency_key(retried.id, step.step_key),
                input=step.input,
                output=step.output,
                started_at=step.started_at,
                finished_at=step.finished_at,
            )
        )
    await store.append_event(
        session,
        task_id=retried.id,
        type="task.created",
        data={
            "runner": retried.runner,
            "retry_of": str(task.id),
            "from_step": from_step,
            "replayed_steps": [s.step_key for s in replayed],
        },
    )
    note(session, WAKE)  # runnable now: a worker starts it at once
    actor.audit(
        session,
        "task.retried",
        target_type="task",
        target_id=str(task.id),
        details={"new_task": str(retried.id)},
    )
    await session.commit()
    return retried


async def signal_task(session: AsyncSession, *, task: Task, key: str, payload: Any, actor: Actor) -> None:
    """Resolve the task's wait named `key` with `payload` and queue it again."""
    if not await store.signal(session, task_id=task.id, step_key=key, payload=payload):
        raise Conflict(f"The task is not waiting for {key!r}.", code="not_waiting")
    actor.audit(session, "task.signalled", target_type="task", target_id=str(task.id), details={"key": key})
    await session.commit()


async def event_heads(
    session: AsyncSession, *, task_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[TaskState, int]]:
    """Each task's state and the number of its latest event, read together (one consistent row each)."""
    rows = await session.execute(
        select(Task.id, Task.state, Task.last_event_seq).where(Task.id.in_(task_ids))
    )
    return {task_id: (state, last_seq) for task_id, state, last_seq in rows}


async def events_in_ranges(
    session: AsyncSession, *, ranges: dict[uuid.UUID, tuple[int, int]]
) -> list[TaskEvent]:
    """Several tasks' events at once: for each task, those numbered in (low, high]; by task, in order."""
    ranged = (
        and_(TaskEvent.task_id == task_id, TaskEvent.seq > low, TaskEvent.seq <= high)
        for task_id, (low, high) in ranges.items()
    )
    statement = select(TaskEvent).where(or_(*ranged)).order_by(TaskEvent.task_id, TaskEvent.seq)
    return list((await session.scalars(statement)).all())


async def list_events(
    session: AsyncSession, *, task_id: uuid.UUID, after_seq: int, limit: int
) -> list[TaskEvent]:
    """Events with a sequence number above `after_seq`, in order."""
    return list(
        (
            await session.scalars(
                select(TaskEvent)
                .where(TaskEvent.task_id == task_id, TaskEvent.seq > after_seq)
                .order_by(TaskEvent.seq)
                .limit(limit)
            )
        ).all()
    )


async def list_steps(session: AsyncSession, *, task_id: uuid.UUID) -> list[TaskStep]:
    """The task's checkpointed steps in order."""
    return list(
        (
            await session.scalars(
                select(TaskStep).where(TaskStep.task_id == task_id).order_by(TaskStep.position)
            )
        ).all()
    )


async def list_attempts(session: AsyncSession, *, task_id: uuid.UUID) -> list[TaskAttempt]:
    """The task's execution attempts in order."""
    return list(
        (
            await session.scalars(
                select(TaskAttempt).where(TaskAttempt.task_id == task_id).order_by(TaskAttempt.attempt)
            )
        ).all()
    )


async def requeue_dead(session: AsyncSession, *, task: Task, actor: Actor) -> Task:
    """Give a dead task fresh attempts and queue it again."""
    if task.state is not TaskState.DEAD:
        raise Conflict("Only dead tasks can be requeued.", code="not_dead")
    now = utcnow()
    await session.execute(
        update(Task)
        .where(Task.id == task.id, Task.state == TaskState.DEAD)
        .values(
            state=TaskState.QUEUED,
            tries=0,  # a fresh budget of the task's max_attempts
            run_at=now,
            finished_at=None,
            error=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    await store.append_event(session, task_id=task.id, type="task.requeued", data={"by": str(actor.user_id)})
    note(session, WAKE)
    actor.audit(session, "task.requeued", target_type="task", target_id=str(task.id))
    await session.commit()
    await session.refresh(task)
    return task


async def discard_dead(session: AsyncSession, *, task: Task, actor: Actor) -> None:
    """Delete a dead task with its steps and events."""
    if task.state is not TaskState.DEAD:
        raise Conflict("Only dead tasks can be discarded.", code="not_dead")
    await session.delete(task)
    actor.audit(session, "task.discarded", target_type="task", target_id=str(task.id))
    await session.commit()
