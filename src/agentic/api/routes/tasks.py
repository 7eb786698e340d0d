"""Tasks: create (idempotently), read, cancel, follow their events live; operators handle dead letters."""

from __future__ import annotations

import uuid
import weakref
from collections.abc import AsyncIterator
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from agentic.api.deps import EventFeedsDep, ResourcesDep, SessionDep, SettingsDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import Principal, require
from agentic.db.models import StepStatus, Task, TaskEvent, TaskState, TaskStep
from agentic.errors import InvalidInput, PermissionDenied
from agentic.schemas.common import MAX_DB_INT, error_responses
from agentic.schemas.tasks import (
    AttemptOut,
    EventOut,
    EventPage,
    SignalIn,
    StepOut,
    TaskCreate,
    TaskFileOut,
    TaskOut,
    TaskPage,
    TaskRetry,
)
from agentic.security.permissions import Permission
from agentic.services import agents as agents_service
from agentic.services import tasks as service
from agentic.services.event_feeds import EventFeeds
from agentic.tracing import new_traceparent, parse_traceparent

router = APIRouter(prefix=API_PREFIX, tags=["tasks"])

Reader = Annotated[Principal, require(Permission.TASKS_READ)]
Runner = Annotated[Principal, require(Permission.TASKS_RUN)]
Operator = Annotated[Principal, require(Permission.TASKS_MANAGE)]

# A live event stream sends a keep-alive comment after this long without events.
_KEEPALIVE_S = 15.0


def task_out(task: Task) -> TaskOut:
    """The API view of a task."""
    return TaskOut(
        id=task.id,
        agent_id=task.agent_id,
        agent_version_id=task.agent_version_id,
        state=task.state,
        input=task.input,
        output=task.output,
        error=task.error,
        priority=task.priority,
        attempt=task.tries,  # counted against max_attempts; steps and events carry the run number
        max_attempts=task.max_attempts,
        run_at=task.run_at,
        created_at=task.created_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
        cancel_requested=task.cancel_requested_at is not None,
        created_by_id=task.created_by_id,
        request_id=task.request_id,
        traceparent=task.traceparent,
        parent_task_id=task.parent_task_id,
    )


def _event_out(event: TaskEvent) -> EventOut:
    return EventOut(
        seq=event.seq, type=event.type, attempt=event.attempt, data=event.data, created_at=event.created_at
    )


def _owner(principal: Principal) -> uuid.UUID | None:
    # Without tasks:read_all a principal sees only the tasks it created.
    return None if principal.can(Permission.TASKS_READ_ALL) else principal.user_id


@router.post(
    "/tasks",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": TaskOut, "description": "Replay of an earlier request with the same key"},
        **error_responses(404, 409, 422),
    },
    summary="Run an agent",
)
async def create_task(
    body: TaskCreate,
    response: Response,
    principal: Runner,
    session: SessionDep,
    settings: SettingsDep,
    resources: ResourcesDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    traceparent: Annotated[str | None, Header(max_length=256)] = None,
) -> TaskOut:
    """201 new; 200 when `Idempotency-Key` repeats an earlier identical request; 409 when it differs."""
    if body.run_at is not None and body.run_at.tzinfo is None:
        raise InvalidInput("`run_at` needs a time zone.", details=[{"loc": ["body", "run_at"]}])
    # A private agent runs only for those who can see it; the agent loaded for that is the one the task runs.
    agent = await agents_service.check_runnable(
        session,
        agent_id=body.agent_id,
        viewer=agents_service.Viewer(principal.user_id, principal.can(Permission.AGENTS_MANAGE)),
    )
    task, created = await service.create_task(
        session,
        org_id=principal.org_id,
        created_by_id=principal.user_id,
        request_id=principal.meta.request_id,
        agent_id=body.agent_id,
        input=body.input,
        priority=body.priority,
        run_at=body.run_at,
        idempotency_key=idempotency_key,
        idempotency_window_s=settings.worker.idempotency_window_s,
        # An invalid header is ignored (W3C); without one the task starts a trace of its own.
        traceparent=parse_traceparent(traceparent) or new_traceparent(),
        throttle=resources.throttle,
        agent=agent,
        files=service.decode_files(
            [(f.name, f.content_base64) for f in body.files],
            max_files=settings.tools.max_input_files,
            max_bytes=settings.tools.max_input_bytes,
        ),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return task_out(task)


@router.get("/tasks", responses=error_responses(422), summary="List tasks, newest first")
async def list_tasks(
    principal: Reader,
    session: SessionDep,
    state: Annotated[list[TaskState] | None, Query()] = None,
    agent_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> TaskPage:
    """Own tasks; with tasks:read_all (operators, admins) every task of the organisation."""
    try:
        before = uuid.UUID(cursor) if cursor else None
    except ValueError:
        raise InvalidInput("Invalid cursor.", details=[{"loc": ["query", "cursor"]}]) from None
    tasks = await service.list_tasks(
        session, owner_id=_owner(principal), states=state, agent_id=agent_id, limit=limit, before_id=before
    )
    return TaskPage(
        items=[task_out(t) for t in tasks], next_cursor=str(tasks[-1].id) if len(tasks) == limit else None
    )


@router.get("/tasks/{task_id}", responses=error_responses(404), summary="A task and its state")
async def get_task(task_id: uuid.UUID, principal: Reader, session: SessionDep) -> TaskOut:
    """Own tasks, or any with tasks:read_all."""
    return task_out(await service.get_task(session, task_id=task_id, owner_id=_owner(principal)))


@router.post("/tasks/{task_id}/cancel", responses=error_responses(403, 404, 409), summary="Cancel a task")
async def cancel_task(task_id: uuid.UUID, principal: Runner, session: SessionDep) -> TaskOut:
    """Own tasks; anyone's with tasks:manage (operators). A running task is interrupted within a second."""
    task = await service.get_task(session, task_id=task_id, owner_id=_owner(principal))
    if task.created_by_id != principal.user_id and not principal.can(Permission.TASKS_MANAGE):
        raise PermissionDenied("Only the task's creator or an operator can cancel it.")
    await service.cancel_task(session, task=task, actor=principal.actor())
    await session.refresh(task)
    return task_out(task)


@router.post(
    "/tasks/{task_id}/retry",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 404, 409, 422),
    summary="Run a finished task again, replaying its completed steps",
)
async def retry_task(
    task_id: uuid.UUID,
    principal: Runner,
    session: SessionDep,
    body: TaskRetry | None = None,
    traceparent: Annotated[str | None, Header(max_length=256)] = None,
) -> TaskOut:
    """Own tasks; anyone's with tasks:manage. The new task points at the original (`parent_task_id`)."""
    task = await service.get_task(session, task_id=task_id, owner_id=_owner(principal))
    if task.created_by_id != principal.user_id and not principal.can(Permission.TASKS_MANAGE):
        raise PermissionDenied("Only the task's creator or an operator can retry it.")
    body = body or TaskRetry()
    retried = await service.retry_task(
        session,
        task=task,
        actor=principal.actor(),
        from_step=body.from_step,
        input=body.input,
        agent_version=body.agent_version,
        traceparent=parse_traceparent(traceparent) or new_traceparent(),
    )
    return task_out(retried)


@router.post(
    "/tasks/{task_id}/signals",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(403, 404, 409),
    summary="Resume a waiting task (an input, an external event; approvals have their own route)",
)
async def signal_task(task_id: uuid.UUID, body: SignalIn, principal: Runner, session: SessionDep) -> TaskOut:
    """Own tasks; anyone's with tasks:manage. 409 when the task is not waiting for `key`."""
    task = await service.get_task(session, task_id=task_id, owner_id=_owner(principal))
    if task.created_by_id != principal.user_id and not principal.can(Permission.TASKS_MANAGE):
        raise PermissionDenied("Only the task's creator or an operator can signal it.")
    await service.signal_task(session, task=task, key=body.key, payload=body.payload, actor=principal.actor())
    await session.refresh(task)
    return task_out(task)


@router.get("/tasks/{task_id}/files", responses=error_responses(404), summary="A task's files")
async def list_task_files(task_id: uuid.UUID, principal: Reader, session: SessionDep) -> list[TaskFileOut]:
    """Inputs given with the task and outputs its tools wrote (the `python` tool's `/workspace/out`)."""
    task = await service.get_task(session, task_id=task_id, owner_id=_owner(principal))
    return [
        TaskFileOut(
            id=f.id,
            direction="in" if f.direction == "in" else "out",
            name=f.name,
            size=f.size,
            sha256=f.sha256,
            step_key=f.step_key,
            created_at=f.created_at,
        )
        for f in await service.list_files(session, task_id=task.id)
    ]


@router.get(
    "/tasks/{task_id}/files/{file_id}",
    responses={200: {"content": {"application/octet-stream": {}}}, **error_responses(404)},
    response_class=Response,
    summary="Download a task's file",
)
async def download_task_file(
    task_id: uuid.UUID, file_id: uuid.UUID, principal: Reader, session: SessionDep
) -> Response:
    """Sent as an attachment (never rendered inline: a file an agent wrote is untrusted content)."""
    task = await service.get_task(session, task_id=task_id, owner_id=_owner(principal))
    found = await service.get_file(session, task_id=task.id, file_id=file_id)
    filename = found.name.rsplit("/", 1)[-1]
    return Response(
        content=bytes(found.content),
        media_type="application/octet-stream",
        headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "x-content-type-options": "nosniff",
            "etag": f'"{found.sha256}"',
        },
    )


@router.get(
    "/tasks/{task_id}/events",
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(404)},
    summary="The task's event log: paged JSON, or a live Server-Sent Events stream",
    response_model=EventPage,
)
async def task_events(
    task_id: uuid.UUID,
    request: Request,
    principal: Reader,
    session: SessionDep,
    feeds: EventFeedsDep,
    after: Annotated[int, Query(ge=0, le=MAX_DB_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventPage | StreamingResponse:
    """Paged JSON, or with `Accept: text/event-stream` a live stream.

    The stream sends every event after `Last-Event-ID` (or `after`), then new ones as they land, until the
    task finishes. It works from any API replica: it catches up from, and follows, the database.
    """
    await service.get_task(session, task_id=task_id, owner_id=_owner(principal))
    if "text/event-stream" not in request.headers.get("accept", ""):
        events = await service.list_events(session, task_id=task_id, after_seq=after, limit=limit)
        return EventPage(
            items=[_event_out(e) for e in events], next_after=events[-1].seq if events else after
        )
    start = after
    if last_event_id is not None:
        if not last_event_id.isdigit() or int(last_event_id) > MAX_DB_INT:
            raise InvalidInput("Last-Event-ID must be an event sequence number.")
        start = int(last_event_id)
    # The stream reads through the process's feed reader, in short transactions of its own: the request's
    # connection goes back to the pool now, not when the stream ends (a stream may stay open for hours).
    await session.close()
    return StreamingResponse(
        _stream(feeds, task_id, start),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


async def _stream(feeds: EventFeeds, task_id: uuid.UUID, after_seq: int) -> AsyncIterator[bytes]:
    """Server-sent events after `after_seq` until the task has finished and its last event was sent."""
    async for batch in feeds.follow(task_id, after_seq=after_seq, keepalive_s=_KEEPALIVE_S):
        if not batch:
            yield b": keep-alive\n\n"
            continue
        yield b"".join(_sse(event) for event in batch)


# The feed hands one event object to every follower of its task: encoded once, not once per follower (a
# fifth of the delivery's CPU with a hundred followers per task). Events are immutable once committed; an
# encoding lives as long as its event is still on its way to someone (weak keys), so large events do not pile
# up here.
_encoded: weakref.WeakKeyDictionary[TaskEvent, bytes] = weakref.WeakKeyDictionary()


def _sse(event: TaskEvent) -> bytes:
    encoded = _encoded.get(event)
    if encoded is None:
        data = _event_out(event).model_dump_json()
        encoded = _encoded[event] = f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n".encode()
    return encoded


@router.get("/tasks/{task_id}/steps", responses=error_responses(404), summary="The task's checkpointed steps")
async def task_steps(task_id: uuid.UUID, principal: Reader, session: SessionDep) -> list[StepOut]:
    """Own tasks, or any with tasks:read_all."""
    await service.get_task(session, task_id=task_id, owner_id=_owner(principal))
    return [_step_out(s) for s in await service.list_steps(session, task_id=task_id)]


def _step_out(step: TaskStep) -> StepOut:
    error = step.error
    output = step.output
    if (
        error is None
        and step.kind == "tool"
        and isinstance(output, dict)
        and isinstance(output.get("error"), dict)
    ):
        # A failed tool call is a result the model is told about, checkpointed as a completed step so a replay
        # does not run it again; the error is in its output. Shown as the step's error all the same.
        error = output["error"]
    outcome: Literal["running", "ok", "error"] = (
        "running" if step.status is StepStatus.RUNNING else "error" if error is not None else "ok"
    )
    return StepOut(
        step_key=step.step_key,
        position=step.position,
        kind=step.kind,
        name=step.name,
        status=step.status.value,
        outcome=outcome,
        attempt=step.attempt,
        input=step.input,
        output=output,
        error=error,
        started_at=step.started_at,
        finished_at=step.finished_at,
    )


@router.get(
    "/tasks/{task_id}/attempts", responses=error_responses(404), summary="The task's execution attempts"
)
async def task_attempts(task_id: uuid.UUID, principal: Reader, session: SessionDep) -> list[AttemptOut]:
    """Own tasks, or any with tasks:read_all."""
    await service.get_task(session, task_id=task_id, owner_id=_owner(principal))
    return [
        AttemptOut(
            attempt=a.attempt,
            worker_id=a.worker_id,
            status=a.status.value,
            started_at=a.started_at,
            finished_at=a.finished_at,
            error=a.error,
        )
        for a in await service.list_attempts(session, task_id=task_id)
    ]


@router.get("/dead-letters", summary="Dead tasks: retries exhausted or poison")
async def dead_letters(
    _principal: Operator,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> TaskPage:
    """Operators and admins."""
    try:
        before = uuid.UUID(cursor) if cursor else None
    except ValueError:
        raise InvalidInput("Invalid cursor.", details=[{"loc": ["query", "cursor"]}]) from None
    tasks = await service.list_tasks(
        session, owner_id=None, states=[TaskState.DEAD], agent_id=None, limit=limit, before_id=before
    )
    return TaskPage(
        items=[task_out(t) for t in tasks], next_cursor=str(tasks[-1].id) if len(tasks) == limit else None
    )


@router.post(
    "/dead-letters/{task_id}/requeue", responses=error_responses(404, 409), summary="Requeue a dead task"
)
async def requeue(task_id: uuid.UUID, principal: Operator, session: SessionDep) -> TaskOut:
    """Operators and admins: the task gets fresh attempts and resumes from its checkpoints."""
    task = await service.get_task(session, task_id=task_id, owner_id=None)
    requeued = await service.requeue_dead(session, task=task, actor=principal.actor())
    return task_out(requeued)


@router.delete(
    "/dead-letters/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(404, 409),
    summary="Discard a dead task",
)
async def discard(task_id: uuid.UUID, principal: Operator, session: SessionDep) -> None:
    """Operators and admins: deletes the task with its steps and events."""
    task = await service.get_task(session, task_id=task_id, owner_id=None)
    await service.discard_dead(session, task=task, actor=principal.actor())
