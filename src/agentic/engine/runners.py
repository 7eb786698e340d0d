"""Runners: the code a task executes, with a context that checkpoints each step.

A runner is a coroutine `runner(ctx) -> output`. Everything it does that must not happen twice goes through
`ctx.step(key, fn)`: a step that completed in an earlier attempt is replayed from its stored result instead of
re-executed. The agent loop (issue 6) is one runner; `test.scripted` exercises the engine on its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.db.types import utcnow
from agentic.engine import store
from agentic.engine.store import Lease


class StepFailed(Exception):
    """A step failed; `retryable` says whether another attempt may help."""

    def __init__(self, message: str, *, retryable: bool = True, code: str = "step_failed") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class WaitRequested(Exception):
    """Raised by `RunContext.wait_for` to park the task; the worker turns it into the `waiting` state."""

    def __init__(self, key: str, position: int, until: dt.datetime, default: Any) -> None:
        super().__init__(f"waiting for {key}")
        self.key, self.position, self.until, self.default = key, position, until, default


class Cancelled(Exception):
    """Cancellation was requested; the runner stops at the next step boundary."""


@dataclass(frozen=True, slots=True)
class StepInfo:
    """What a step's function gets: its key and an idempotency key to pass to side-effecting calls."""

    key: str
    idempotency_key: str
    attempt: int


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

    def __init__(self, *, task: TaskInfo, lease: Lease, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.task = task
        self.lease = lease
        self._sessions = sessions
        self._position = 0

    async def step(
        self,
        key: str,
        fn: Callable[[StepInfo], Awaitable[Any]],
        *,
        kind: str = "custom",
        name: str | None = None,
        input: Any = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Run `fn` once across all attempts: replay its stored result if it already completed."""
        self._position += 1
        async with self._sessions() as session:
            if await store.cancel_requested(session, lease=self.lease):
                raise Cancelled
            done = await store.completed_step(session, task_id=self.task.id, step_key=key)
            if done is not None:
                return done.output
            await store.start_step(
                session,
                lease=self.lease,
                step_key=key,
                position=self._position,
                kind=kind,
                name=name or key,
                input=input,
            )
        info = StepInfo(
            key=key, idempotency_key=store.step_idempotency_key(self.task.id, key), attempt=self.lease.attempt
        )
        try:
            async with asyncio.timeout(timeout_s):
                output = await fn(info)
        except TimeoutError:
            await self._finish(
                key, error={"code": "step_timeout", "message": f"step {key} exceeded {timeout_s}s"}
            )
            raise StepFailed(f"step {key} timed out", code="step_timeout") from None
        except StepFailed as exc:
            await self._finish(key, error={"code": exc.code, "message": str(exc)})
            raise
        await self._finish(key, output=output)
        return output

    async def wait_for(self, key: str, *, timeout_s: float, default: Any = None) -> dict[str, Any]:
        """Wait for a signal named `key` (a human approval, an input, a timer), holding no worker slot.

        Returns `{"signal": payload}`, or `{"timed_out": True, "signal": default}` when `timeout_s` passed
        first. Survives restarts: the wait is a checkpoint like any step, and replays once resolved.
        """
        self._position += 1
        async with self._sessions() as session:
            done = await store.completed_step(session, task_id=self.task.id, step_key=key)
        if done is not None:
            return dict(done.output or {})
        raise WaitRequested(key, self._position, utcnow() + dt.timedelta(seconds=timeout_s), default)

    async def _finish(self, key: str, *, output: Any = None, error: dict[str, Any] | None = None) -> None:
        async with self._sessions() as session:
            await store.finish_step(session, lease=self.lease, step_key=key, output=output, error=error)

    async def event(self, type: str, data: dict[str, Any] | None = None) -> None:
        """Append an event to the task's log (fenced: a worker that lost the lease cannot write)."""
        async with self._sessions() as session:
            await store.append_event_fenced(session, lease=self.lease, type=type, data=data)


class Runner(Protocol):
    """Executes a task."""

    async def __call__(self, ctx: RunContext) -> Any:
        """Run the task and return its output."""
        ...


async def scripted_runner(ctx: RunContext) -> Any:
    """`test.scripted`: runs `input.steps`: `{"key", "sleep_ms", "output", "fail_times", "fatal", "code"}`.

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
