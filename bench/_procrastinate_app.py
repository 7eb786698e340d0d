"""The procrastinate app that `bench.peers procrastinate` runs (PostgreSQL-native, async, LISTEN/NOTIFY).

Both the enqueuing parent and the worker process build it with `make_app`: a `PsycopgConnector` (psycopg 3,
an `AsyncConnectionPool` of `pool_size` connections) on the run's fresh database. The task is the shared
3-step mock workload as a coroutine: each step awaits `asyncio.sleep` (realistic) or returns at once
(overhead), as our engine's steps do. procrastinate stores no return value: a job's outcome is its status
(`succeeded`) and its events in `procrastinate_events`, which the parent reads.
"""

from __future__ import annotations

import asyncio
from typing import Any

from procrastinate import App, PsycopgConnector

from bench.peers import PROCRASTINATE_QUEUE, PROCRASTINATE_TASK, STEPS


async def mock_llm_call_async(step_s: float) -> dict[str, Any]:
    """One step of the workload, as a coroutine (see `bench.peers.mock_llm_call`)."""
    if step_s > 0:
        await asyncio.sleep(step_s)
    return {"text": "ok", "tokens": 12}


def make_app(dsn: str, pool_size: int) -> App:
    """The app on `dsn`, with the benchmark's one task registered."""
    app = App(connector=PsycopgConnector(conninfo=dsn, min_size=pool_size, max_size=pool_size))

    @app.task(name=PROCRASTINATE_TASK, queue=PROCRASTINATE_QUEUE)
    async def three_steps(step_s: float) -> int:
        for _ in range(STEPS):
            await mock_llm_call_async(step_s)
        return STEPS

    return app
