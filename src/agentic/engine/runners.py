"""Runners: the code a task executes, with a context that checkpoints each step.

A runner is a coroutine `runner(ctx) -> output`. Everything it does that must not happen twice goes through
`ctx.step(key, fn)`: a step that completed in an earlier attempt is replayed from its stored result instead of
re-executed. The agent loop (issue 6) is one runner; `test.scripted` exercises the engine on its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.db.models import StepStatus
from agentic.db.types import utcnow
from agentic.engine import store
from agentic.engine.checkpoints import CheckpointWriter
from agentic.engine.store import Lease

# A step shorter than this is stored in one commit when it ends (start and result together); a longer one
# gets its start recorded, and streamed to watchers, once this time has passed — or as soon as it emits an
# event (streamed tokens), so that no event of a step is ever seen before the step's `step.started`.
STEP_START_RECORD_AFTER_S = 1.0

# The step whose function is running in this task (a step run concurrently in another task has its own).
_current_step: contextvars.ContextVar[_StepWrite | None] = contextvars.ContextVar("step", default=None)


class StepFailed(Exception):
    """A step failed; `retryable` says whether another attempt may help."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        code: str = "step_failed",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code
        # Stored with the failed step (e.g. the partial answer of an LLM stream that broke off).
        self.details = details

    def error(self) -> dict[str, Any]:
        """The error as a step stores it."""
        error: dict[str, Any] = {"code": self.code, "message": str(self)}
        if self.details:
            error["details"] = self.details
        return error


class WaitRequested(Exception):
    """Raised by `RunContext.wait_for` to park the task; the worker turns it into the `waiting` state."""

    def __init__(
        self,
        key: str,
        position: int,
        until: dt.datetime,
        default: Any,
        approval: store.ApprovalRequest | None = None,
    ) -> None:
        super().__init__(f"waiting for {key}")
        self.key, self.position, self.until, self.default = key, position, until, default
        self.approval = approval


@dataclass(frozen=True, slots=True)
class StepInfo:
    """What a step's function gets: its key and an idempotency key to pass to side-effecting calls."""

    key: str
    idempotency_key: str
    attempt: int
    _step: _StepWrite | None = field(default=None, repr=False, compare=False)

    def rename(self, name: str) -> None:
        """Record the step under `name` when it ends (e.g. the fallback target that really answered)."""
        if self._step is not None:
            self._step.name = name


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """The task being run."""

    id: uuid.UUID
    org_id: uuid.UUID
    agent_id: uuid.UUID
    agent_version_id: uuid.UUID
    input: dict[str, Any]
    attempt: int


class RunContext:
    """Handed to a runner: checkpointed steps, events and cancellation checks, all fenced by the lease."""

    def __init__(
        self,
        *,
        task: TaskInfo,
        lease: Lease,
        sessions: async_sessionmaker[AsyncSession],
        may_have_steps: bool = True,
        checkpoints: CheckpointWriter | None = None,
    ) -> None:
        self.task = task
        self.lease = lease
        self._sessions = sessions
        # Every checkpoint goes through a writer that group-commits it with the worker's other tasks.
        self._checkpoints = checkpoints or CheckpointWriter(sessions)
        self._position = 0
        # Steps stored by earlier attempts, read once per attempt (a first attempt has none to read).
        self._stored: dict[str, store.StepRecord] | None = None if may_have_steps else {}

    async def _stored_steps(self) -> dict[str, store.StepRecord]:
        if self._stored is None:
            async with self._sessions() as session:
                self._stored = await store.load_steps(session, task_id=self.task.id)
        return self._stored

    async def step(
        self,
        key: str,
        fn: Callable[[StepInfo], Awaitable[Any]],
        *,
        kind: str = "custom",
        name: str | None = None,
        input: Any = None,
        timeout_s: float | None = None,
        store_as: Callable[[Any], Any] | None = None,
    ) -> Any:
        """Run `fn` once across all attempts: replay its stored result if it already completed.

        A step that finishes within `STEP_START_RECORD_AFTER_S` is stored with both of its events in one
        commit when it ends; a longer one also gets its start recorded (and streamed) once that time has
        passed. Cancellation interrupts `fn` itself (the worker cancels the attempt), not just the boundary.

        `store_as` turns the result into what is stored (redacted, say): this run goes on with the result
        itself, a replay with what was stored.
        """
        self._position += 1
        stored = await self._stored_steps()
        previous = stored.get(key)
        if previous is not None and previous.status == StepStatus.SUCCEEDED:
            return previous.output
        step = _StepWrite(
            ctx=self,
            key=key,
            position=self._position,
            kind=kind,
            name=name or key,
            input=input,
            exists=previous is not None,
        )
        info = StepInfo(
            key=key,
            idempotency_key=store.step_idempotency_key(self.task.id, key),
            attempt=self.lease.attempt,
            _step=step,
        )
        step.arm()
        current = _current_step.set(step)
        try:
            async with asyncio.timeout(timeout_s):
                output = await fn(info)
        except TimeoutError:
            await step.finish(error={"code": "step_timeout", "message": f"step {key} exceeded {timeout_s}s"})
            raise StepFailed(f"step {key} timed out", code="step_timeout") from None
        except StepFailed as exc:
            await step.finish(error=exc.error())
            raise
        except BaseException:
            await step.abandon()
            raise
        finally:
            _current_step.reset(current)
        kept = store_as(output) if store_as is not None else output
        await step.finish(output=kept)
        stored[key] = store.StepRecord(StepStatus.SUCCEEDED, kept)
        return output

    async def wait_for(
        self,
        key: str,
        *,
        timeout_s: float,
        default: Any = None,
        approval: store.ApprovalRequest | None = None,
    ) -> dict[str, Any]:
        """Wait for a signal named `key` (a human approval, an input, a timer), holding no worker slot.

        Returns `{"signal": payload}`, or `{"timed_out": True, "signal": default}` when `timeout_s` passed
        first. With `approval` the wait is an approval request, decided through the approvals API. Survives
        restarts: the wait is a checkpoint like any step, and replays once resolved.
        """
        self._position += 1
        done = (await self._stored_steps()).get(key)
        if done is not None and done.status == StepStatus.SUCCEEDED:
            return dict(done.output or {})
        until = utcnow() + dt.timedelta(seconds=timeout_s)
        raise WaitRequested(key, self._position, until, default, approval)

    async def event(self, type: str, data: dict[str, Any] | None = None) -> None:
        """Append an event to the task's log (fenced: a worker that lost the lease cannot write).

        From inside a running step, the step's start is stored first: watchers see `step.started` before
        anything the step emits.
        """
        step = _current_step.get()
        if step is not None and step.ctx is self:
            await step.started()
        await self._checkpoints.event(lease=self.lease, type=type, data=data or {})


class _StepWrite:
    """The stored side of one running step: its start (only if it runs long) and its result."""

    def __init__(
        self, *, ctx: RunContext, key: str, position: int, kind: str, name: str, input: Any, exists: bool
    ) -> None:
        self.ctx, self.key, self.position, self.kind, self.name, self.input = (
            ctx,
            key,
            position,
            kind,
            name,
            input,
        )
        self.exists = exists
        self.started_at = utcnow()
        self._start: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        """The step's function starts now: record its start if it is still running after a while."""
        self._timer = asyncio.get_running_loop().call_later(STEP_START_RECORD_AFTER_S, self.record_start)

    def record_start(self) -> None:
        """The step runs long: record its start now, in the background (the step itself is not held up)."""
        if self._start is None:
            self._start = asyncio.create_task(self._write("start"))

    async def started(self) -> None:
        """Make sure the step's start is stored (before an event of the step is)."""
        self.record_start()
        assert self._start is not None  # noqa: S101 - set just above
        await asyncio.shield(self._start)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _write(
        self, phase: Literal["whole", "start", "end"], output: Any = None, error: dict[str, Any] | None = None
    ) -> None:
        await self.ctx._checkpoints.step(
            lease=self.ctx.lease,
            step_key=self.key,
            position=self.position,
            kind=self.kind,
            name=self.name,
            input=self.input,
            started_at=self.started_at,
            exists=self.exists,
            phase=phase,
            output=output,
            error=error,
        )
        self.exists = True

    async def finish(self, *, output: Any = None, error: dict[str, Any] | None = None) -> None:
        """Store the result (fenced: raises `LeaseLost` when the lease was taken over)."""
        self._disarm()
        if self._start is not None:
            await self._start  # the start is numbered before the result, and the row exists
            await self._write("end", output, error)
        else:
            await self._write("whole", output, error)

    async def abandon(self) -> None:
        """The attempt is being cancelled mid-step: let a start record in flight settle, store nothing."""
        self._disarm()
        if self._start is not None:
            self._start.cancel()
            await asyncio.gather(self._start, return_exceptions=True)


class Runner(Protocol):
    """Executes a task."""

    async def __call__(self, ctx: RunContext) -> Any:
        """Run the task and return its output."""
        ...


async def scripted_runner(ctx: RunContext) -> Any:
    """`test.scripted`: runs `input.steps`: `{"key", "sleep_ms", "output", "fail_times", "fatal", "code"}`.

    A step's `event` names an event it appends to the task's log while it runs (as the agent loop streams
    tokens); a `wait` step parks the task until a signal.

    With `input.effects_file`, every executed (not replayed) step appends a line there: a side effect observed
    outside the process, which is how crash tests prove no completed step ran twice.
    """
    steps: list[dict[str, Any]] = ctx.task.input.get("steps", [])
    effects = ctx.task.input.get("effects_file")
    results = []
    for spec in steps:
        key = str(spec["key"])
        if "wait" in spec:
            results.append(
                await ctx.wait_for(
                    key,
                    timeout_s=float(spec["wait"].get("timeout_s", 60)),
                    default=spec["wait"].get("default"),
                )
            )
            continue

        async def run(info: StepInfo, spec: dict[str, Any] = spec) -> Any:
            if spec.get("event"):
                await ctx.event(str(spec["event"]), {"step": info.key})
            if spec.get("sleep_ms"):
                await asyncio.sleep(float(spec["sleep_ms"]) / 1000)
            if info.attempt <= int(spec.get("fail_times", 0)):
                raise StepFailed(
                    f"scripted failure of {info.key}",
                    retryable=not spec.get("fatal"),
                    code=str(spec.get("code", "step_failed")),
                )
            if effects:
                line = (
                    json.dumps({"task": str(ctx.task.id), "step": info.key, "attempt": info.attempt}) + "\n"
                )
                await asyncio.to_thread(_append, Path(effects), line)
            return spec.get("output", {"step": info.key})

        results.append(await ctx.step(key, run, kind="test", timeout_s=spec.get("timeout_s")))
    return {"steps": results}


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line)


RUNNERS: dict[str, Runner] = {"test.scripted": scripted_runner}
