"""Tasks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from agentic.db.models import TaskState
from agentic.schemas.common import MAX_DB_INT, Schema


def _relative_path(name: str) -> str:
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError("must be a relative path without empty, '.' or '..' parts")
    return name


FileName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._-][A-Za-z0-9._/-]*$"),
    AfterValidator(_relative_path),
]


class FileIn(Schema):
    """A file given with a task: its code sees it read-only at `/workspace/in/<name>`."""

    name: FileName = Field(description="Relative path, e.g. `data/sales.csv` (no `..`, no leading `/`).")
    content_base64: str = Field(description="The file's bytes, base64-encoded.")


class TaskCreate(Schema):
    """Body of `POST /v1/tasks`."""

    agent_id: uuid.UUID
    input: dict[str, Any] = Field(default_factory=dict)
    files: list[FileIn] = Field(
        default_factory=list, description="Input files for the task's tools (sizes capped by the server)."
    )
    priority: int = Field(default=0, ge=-100, le=100)
    run_at: dt.datetime | None = Field(
        default=None, description="Run later (a delayed task); must have a zone."
    )


class SignalIn(Schema):
    """Body of `POST /v1/tasks/{task_id}/signals`: resolves the task's wait named `key`."""

    key: str = Field(min_length=1, max_length=255)
    payload: Any = None


class TaskRetry(Schema):
    """Body of `POST /v1/tasks/{task_id}/retry`."""

    from_step: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DB_INT,
        description="Re-run from this step position on; earlier completed steps are replayed from the "
        "original. Default: replay every completed step (resume where it failed).",
    )
    input: dict[str, Any] | None = Field(default=None, description="Run with this input instead.")
    agent_version: int | None = Field(
        default=None, ge=1, le=MAX_DB_INT, description="Run this version of the agent instead."
    )


class TaskFileOut(BaseModel):
    """A file of a task: an input given with it, or an output one of its tools wrote."""

    id: uuid.UUID
    direction: Literal["in", "out"]
    name: str
    size: int
    sha256: str
    step_key: str | None = Field(description="The tool step that wrote an output file.")
    created_at: dt.datetime


class TaskOut(BaseModel):
    """A task."""

    id: uuid.UUID
    agent_id: uuid.UUID
    agent_version_id: uuid.UUID
    state: TaskState
    input: dict[str, Any]
    output: Any = None
    error: dict[str, Any] | None = None
    priority: int
    attempt: int
    max_attempts: int
    run_at: dt.datetime
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    cancel_requested: bool
    created_by_id: uuid.UUID | None
    request_id: str | None
    traceparent: str | None = None
    parent_task_id: uuid.UUID | None = None


class TaskPage(BaseModel):
    """A page of tasks, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[TaskOut]
    next_cursor: str | None


class EventOut(BaseModel):
    """One entry of a task's event log."""

    seq: int
    type: str
    attempt: int | None
    data: dict[str, Any]
    created_at: dt.datetime


class EventPage(BaseModel):
    """Events after a sequence number."""

    items: list[EventOut]
    next_after: int


class StepOut(BaseModel):
    """A checkpointed step."""

    step_key: str
    position: int
    kind: str
    name: str
    status: str = Field(
        description="`running`, `succeeded` or `failed`: the checkpoint's state. A tool call whose result is "
        "an error is checkpointed as `succeeded` (a replay must not run it again; the model was told): "
        "`outcome` and `error` say it failed."
    )
    outcome: Literal["running", "ok", "error"] = Field(
        description="How the step went: `error` when it failed, including a tool call whose result is an "
        "error."
    )
    attempt: int
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = Field(
        default=None,
        description="Why the step failed: its own error, or the error result of a tool call (`code`, "
        "`message`), as the model was shown it.",
    )
    started_at: dt.datetime
    finished_at: dt.datetime | None


class AttemptOut(BaseModel):
    """One execution attempt."""

    attempt: int
    worker_id: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    error: dict[str, Any] | None = None
