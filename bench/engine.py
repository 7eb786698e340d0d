"""Task engine benchmark: ours on SQLite and PostgreSQL, beside Celery + Redis and DBOS on the same workloads.

Every figure comes from a fresh process ("cell") so CPU time and peak RSS are that cell's own. Workloads
(each task is 3 sequential steps, every step checkpointed by our engine):

- **overhead**: zero-latency steps. What the engine itself costs per task (claim, 3 persisted steps with
  their events, completion).
- **realistic**: each step is a mock LLM call of 500 ms. All tasks are offered up front, faster than anyone
  can serve; ours runs with its default settings, Celery with the threads pool at concurrency 100, DBOS
  with a queue at worker concurrency 100 (see bench/peers.py).

Also measured for ours: enqueue→start latency (p50/p99) when idle and under load, and how many tasks one
worker process holds in flight with a 2 s step (and at what RSS).

    .venv/bin/python -m bench.engine                 # everything (a few minutes)
    .venv/bin/python -m bench.engine --quick         # smaller N, for a smoke run
    .venv/bin/python -m bench.engine cell throughput --db sqlite --workload overhead --tasks 3000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

PG_ADMIN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
STEPS = 3
REALISTIC_STEP_S = 0.5


def _quiet_logs() -> None:
    """Warnings and errors only, as JSON (Celery's worker runs at WARNING too)."""
    from agentic.config import Environment, LogSettings
    from agentic.logging import configure_logging

    configure_logging(LogSettings(level="WARNING", format="json"), Environment.PRODUCTION)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the database of a cell ---------------------------------------------------------------------------


@asynccontextmanager
async def _database(kind: str) -> AsyncIterator[str]:
    """A fresh, migrated database: a SQLite file or a PostgreSQL database dropped afterwards."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from agentic.db import migrate

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/agentic.db"
            engine = create_async_engine(url)
            await migrate.upgrade(engine)
            await engine.dispose()
            yield url
        return
    import asyncpg

    name = f"bench_engine_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    engine = create_async_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    try:
        yield url
    finally:
        admin = await asyncpg.connect(PG_ADMIN, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _settings(url: str, **worker: Any) -> Any:
    from agentic.config import DatabaseSettings, Settings, WorkerSettings

    return Settings(database=DatabaseSettings(url=url), worker=WorkerSettings(**worker), _env_file=None)


async def _seed(sessions: Any) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    from agentic.db.models import Agent, AgentVersion, Organization

    async with sessions() as session:
        org = Organization(name="Bench", slug=f"bench-{uuid.uuid4().hex[:6]}", settings={})
        session.add(org)
        await session.flush()
        agent = Agent(org_id=org.id, name="bench")
        session.add(agent)
        await session.flush()
        version = AgentVersion(org_id=org.id, agent_id=agent.id, version=1, config={})
        session.add(version)
        await session.commit()
        return org.id, agent.id, version.id


async def _bulk_enqueue(
    sessions: Any, ids: tuple[uuid.UUID, uuid.UUID, uuid.UUID], n: int, input: Any
) -> None:
    """Queue `n` tasks fast (one statement per table per 1,000 tasks), each with its `task.created` event."""
    from sqlalchemy import insert

    from agentic.db.models import Task, TaskEvent, TaskState
    from agentic.db.types import utcnow
    from agentic.ids import new_id

    org_id, agent_id, version_id = ids
    for start in range(0, n, 1000):
        now = utcnow()
        rows = [
            {
                "id": new_id(),
                "org_id": org_id,
                "agent_id": agent_id,
                "agent_version_id": version_id,
                "input": input,
                "runner": "bench.llm",
                "state": TaskState.QUEUED,
                "run_at": now,
                "max_attempts": 3,
                "policy": {},
                "last_event_seq": 1,
                "attempt": 0,
                "priority": 0,
            }
            for _ in range(min(1000, n - start))
        ]
        async with sessions() as session:
            await session.execute(insert(Task), rows)
            await session.execute(
                insert(TaskEvent),
                [{"task_id": r["id"], "seq": 1, "type": "task.created", "data": {}} for r in rows],
            )
            await session.commit()


# When the runner of each task began (this process's tasks): the end of the enqueue→start latency.
RUNNER_STARTED: dict[uuid.UUID, float] = {}


async def bench_runner(ctx: Any) -> Any:
    """`bench.llm`: `input.steps` checkpointed steps, each a mock LLM call of `input.step_s` seconds."""
    if "probe" in ctx.task.input:
        started = time.time()
        await asyncio.to_thread(_append_line, ctx.task.input["probe"], f"{ctx.task.id} {started}\n")
    step_s = float(ctx.task.input.get("step_s", 0))
    results = []
    for number in range(1, int(ctx.task.input.get("steps", STEPS)) + 1):

        async def call(_info: Any) -> dict[str, Any]:
            if step_s:
                await asyncio.sleep(step_s)
            return {"text": "ok", "tokens": 12}

        results.append(await ctx.step(f"llm-{number}", call, kind="llm"))
    return {"steps": len(results)}


def _append_line(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)


def _worker(sessions: Any, settings: Any) -> Any:
    from agentic.engine.worker import EngineSource
    from agentic.workers.runtime import WorkerRuntime

    return WorkerRuntime(
        settings.worker, source=EngineSource(sessions, settings.worker, runners={"bench.llm": bench_runner})
    )


async def _count_finished(sessions: Any) -> int:
    from sqlalchemy import func, select

    from agentic.db.models import Task, TaskState

    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.state.in_([TaskState.SUCCEEDED, TaskState.FAILED, TaskState.DEAD]))
            )
            or 0
        )


async def _verify(sessions: Any, tasks: int, steps: int) -> None:
    """Every task succeeded, with every step and event stored: the figures count real, durable work."""
    from sqlalchemy import func, select

    from agentic.db.models import Task, TaskEvent, TaskState, TaskStep

    async with sessions() as session:
        succeeded = await session.scalar(
            select(func.count()).select_from(Task).where(Task.state == TaskState.SUCCEEDED)
        )
        stored_steps = await session.scalar(select(func.count()).select_from(TaskStep))
        events = await session.scalar(select(func.count()).select_from(TaskEvent))
    # Per task: created, started, 2 per step, succeeded.
    expected = (tasks, tasks * steps, tasks * (3 + 2 * steps))
    if (succeeded, stored_steps, events) != expected:
        raise AssertionError(
            f"stored (tasks, steps, events) = {(succeeded, stored_steps, events)}, expected {expected}"
        )


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _open(url: str, settings: Any) -> tuple[Any, Any]:
    from agentic.db.engine import create_engine, create_session_factory
    from agentic.engine.signals import SIGNALS_KEY, Signals

    engine = create_engine(settings, url=url)
    return engine, create_session_factory(engine, info={SIGNALS_KEY: Signals()})


# --- cells ----------------------------------------------------------------------------------------------


async def cell_throughput(db: str, workload: str, tasks: int, concurrency: int | None) -> dict[str, Any]:
    """Drain `tasks` queued tasks with one worker; tasks/s and CPU per task of this (the worker's) process."""
    async with _database(db) as url:
        worker = {} if concurrency is None else {"concurrency": concurrency}
        settings = _settings(url, **worker)
        engine, sessions = _open(url, settings)
        ids = await _seed(sessions)
        step_s = REALISTIC_STEP_S if workload == "realistic" else 0.0
        await _bulk_enqueue(sessions, ids, tasks, {"steps": STEPS, "step_s": step_s})
        runtime = _worker(sessions, settings)
        cpu0, t0 = _cpu_s(), time.perf_counter()
        runtime.start()
        try:
            while (done := await _count_finished(sessions)) < tasks:
                if time.perf_counter() - t0 > 600:
                    raise TimeoutError(f"only {done}/{tasks} finished in 600 s")
                await asyncio.sleep(0.1)
            wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
        finally:
            await runtime.stop()
        await _verify(sessions, tasks, STEPS)
        run_s = await _mean_run_s(sessions)
        await engine.dispose()
    return {
        "system": f"agentic-{db}",
        "workload": workload,
        "tasks": tasks,
        "concurrency": settings.worker.concurrency,
        "wall_s": round(wall, 2),
        "tasks_per_s": round(tasks / wall, 1),
        "cpu_ms_per_task": round(cpu * 1000 / tasks, 2),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "mean_run_s": round(run_s, 3),
    }


async def _mean_run_s(sessions: Any) -> float:
    """Mean time from a task's claim to its completion (3 x 500 ms of mock calls when realistic)."""
    from sqlalchemy import select

    from agentic.db.models import Task

    async with sessions() as session:
        rows = (await session.execute(select(Task.started_at, Task.finished_at))).all()
    spans = [(finished - started).total_seconds() for started, finished in rows if started and finished]
    return statistics.fmean(spans) if spans else 0.0


async def _probe_latencies(
    sessions: Any, ids: tuple[uuid.UUID, ...], probes: int
) -> tuple[list[float], list[float]]:
    """Enqueue one no-op task at a time.

    Returns the enqueue calls' durations (until the task is committed: what an API request waits for) and
    the enqueue→start latencies (from the commit to the moment the worker's runner begins the task).
    """
    from agentic.engine import store

    org_id, agent_id, version_id = ids
    latencies, enqueues = [], []
    probe_file = Path(tempfile.mkdtemp(prefix="bench-probe-")) / "started.txt"
    probe_file.touch()
    for _ in range(probes):
        before = time.time()
        async with sessions() as session:
            task = await store.enqueue(
                session,
                org_id=org_id,
                agent_id=agent_id,
                agent_version_id=version_id,
                input={"steps": 0, "probe": str(probe_file)},
                runner="bench.llm",
            )
        committed = time.time()
        started = None
        for _ in range(5000):
            await asyncio.sleep(0.001)
            for line in probe_file.read_text().splitlines():
                if line.startswith(str(task.id)):
                    started = float(line.split()[1])
            if started is not None:
                break
        assert started is not None, "probe never started"  # noqa: S101
        enqueues.append((committed - before) * 1000)
        latencies.append((started - committed) * 1000)
        await asyncio.sleep(0.02)
    return enqueues, latencies


async def cell_latency(db: str, load: int, probes: int) -> dict[str, Any]:
    """Enqueue→start latency. SQLite: enqueuer and worker in one process (the embedded `agentic serve`).
    PostgreSQL: the worker is another process, woken through LISTEN/NOTIFY (an API replica and a worker).

    With `load`, that many realistic tasks (3 x 500 ms) keep the worker busy while the probes run.
    """
    async with _database(db) as url:
        settings = _settings(url, concurrency=max(100, load + 100))
        engine, sessions = _open(url, settings)
        if db == "postgresql":
            from agentic.db.engine import create_session_factory
            from agentic.engine.signals import SIGNALS_KEY, PostgresTransport, Signals

            signals = Signals(PostgresTransport(url))
            sessions = create_session_factory(engine, info={SIGNALS_KEY: signals})
        ids = await _seed(sessions)
        if load:
            await _bulk_enqueue(sessions, ids, load, {"steps": STEPS, "step_s": REALISTIC_STEP_S})
        child = runtime = None
        if db == "postgresql":
            child = subprocess.Popen(  # noqa: S603, ASYNC220  # started once, before the measurement
                [
                    sys.executable,
                    "-m",
                    "bench.engine",
                    "worker",
                    "--url",
                    url,
                    "--concurrency",
                    str(load + 100),
                ],
                cwd=REPO,
            )
            await asyncio.sleep(3)  # the worker is up and listening
        else:
            runtime = _worker(sessions, settings)
            runtime.start()
        try:
            if load:
                await asyncio.sleep(1.0)  # the load is in flight
            enqueues, latencies = await _probe_latencies(sessions, ids, probes)
        finally:
            if runtime is not None:
                await runtime.stop()
            if child is not None:
                child.terminate()
                child.wait(timeout=30)
            await sessions.kw["info"]["agentic.signals"].stop()
            await engine.dispose()
    return {
        "system": f"agentic-{db}",
        "load_in_flight": load,
        "probes": probes,
        "p50_ms": _percentile(latencies, 50),
        "p99_ms": _percentile(latencies, 99),
        "enqueue_p50_ms": _percentile(enqueues, 50),
        "enqueue_p99_ms": _percentile(enqueues, 99),
    }


def _percentile(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, len(ordered) * pct // 100)], 2)


async def cell_inflight(db: str, tasks: int) -> dict[str, Any]:
    """How many tasks with one 2 s mock step a single worker process holds in flight, and its RSS."""
    async with _database(db) as url:
        settings = _settings(url, concurrency=tasks)
        engine, sessions = _open(url, settings)
        ids = await _seed(sessions)
        await _bulk_enqueue(sessions, ids, tasks, {"steps": 1, "step_s": 2.0})
        runtime = _worker(sessions, settings)
        t0 = time.perf_counter()
        runtime.start()
        peak = 0
        try:
            while time.perf_counter() - t0 < 120:
                peak = max(peak, runtime.in_flight)
                if await _count_finished(sessions) >= tasks:
                    break
                await asyncio.sleep(0.05)
            wall = time.perf_counter() - t0
        finally:
            await runtime.stop()
            await engine.dispose()
    return {
        "system": f"agentic-{db}",
        "tasks": tasks,
        "peak_in_flight": peak,
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
    }


async def run_worker(url: str, concurrency: int) -> None:
    """A standalone worker process (for the PostgreSQL latency cell), until SIGTERM."""
    import signal

    from agentic.db.engine import create_engine, create_session_factory
    from agentic.engine.signals import SIGNALS_KEY, PostgresTransport, Signals

    settings = _settings(url, concurrency=concurrency)
    engine = create_engine(settings, url=url)
    signals = Signals(PostgresTransport(url))
    signals.start()
    sessions = create_session_factory(engine, info={SIGNALS_KEY: signals})
    runtime = _worker(sessions, settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    runtime.start()
    await stop.wait()
    await runtime.stop()
    await signals.stop()
    await engine.dispose()


# --- orchestration --------------------------------------------------------------------------------------


def _cell(*args: str) -> dict[str, Any]:
    _log(f"  running: {' '.join(args)}")
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.engine", "cell", *args],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cell {args} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _peer(*args: str) -> dict[str, Any] | None:
    _log(f"  running peer: {' '.join(args)}")
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.peers", *args],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        _log(f"peer {args} failed:\n{out.stderr[-2000:]}")
        return None
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Run the cells and print the tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--quick", action="store_true", help="smaller N (a smoke run)")
    parser.add_argument("--no-peers", action="store_true", help="skip Celery and DBOS")
    cell = sub.add_parser("cell")
    cell.add_argument("kind", choices=["throughput", "latency", "inflight"])
    cell.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    cell.add_argument("--workload", choices=["overhead", "realistic"], default="overhead")
    cell.add_argument("--tasks", type=int, default=2000)
    cell.add_argument("--concurrency", type=int)
    cell.add_argument("--load", type=int, default=0)
    cell.add_argument("--probes", type=int, default=200)
    worker = sub.add_parser("worker")
    worker.add_argument("--url", required=True)
    worker.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    _quiet_logs()

    if args.command == "worker":
        asyncio.run(run_worker(args.url, args.concurrency))
        return
    if args.command == "cell":
        if args.kind == "throughput":
            result = asyncio.run(cell_throughput(args.db, args.workload, args.tasks, args.concurrency))
        elif args.kind == "latency":
            result = asyncio.run(cell_latency(args.db, args.load, args.probes))
        else:
            result = asyncio.run(cell_inflight(args.db, args.tasks))
        print(json.dumps(result))
        return
    orchestrate(quick=args.quick, peers=not args.no_peers)


def orchestrate(*, quick: bool, peers: bool) -> None:
    """Every cell, then the tables (Markdown, for docs/benchmarks.md)."""
    n_over, n_real, n_peer_real, n_inflight = (1000, 1500, 300, 1000) if quick else (5000, 6000, 1500, 5000)
    rows: list[dict[str, Any]] = []
    for workload, n in (("overhead", n_over), ("realistic", n_real)):
        for db in ("sqlite", "postgresql"):
            rows.append(_cell("throughput", "--db", db, "--workload", workload, "--tasks", str(n)))
        if peers:
            peer_n = n if workload == "overhead" else n_peer_real
            # Celery as configured by the issue (no result backend), and storing each task's result in Redis
            # (closer to what a durable engine does); DBOS is slower, so it gets fewer tasks.
            for system, extra, count in (
                ("celery", [], peer_n),
                ("celery", ["--result-backend"], peer_n),
                ("dbos", [], min(peer_n, 1000)),
            ):
                result = _peer(system, "--workload", workload, "--tasks", str(count), *extra)
                if result is not None:
                    rows.append(result)
    latency = [
        _cell("latency", "--db", db, "--load", str(load), "--probes", "100" if quick else "300")
        for db in ("sqlite", "postgresql")
        for load in (0, 500)
    ]
    inflight = [_cell("inflight", "--db", db, "--tasks", str(n_inflight)) for db in ("sqlite", "postgresql")]

    print("\n### Throughput (one worker process, 3 steps per task)\n")
    print("| system | workload | tasks | tasks/s | CPU ms/task | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['system']} | {r['workload']} | {r['tasks']} | {r['tasks_per_s']} | "
            f"{r.get('cpu_ms_per_task', '')} | {r.get('peak_rss_mib', '')} |"
        )
    print("\n### Ratios (ours ÷ peer, tasks/s)\n")
    for workload in ("overhead", "realistic"):
        by = {r["system"]: r["tasks_per_s"] for r in rows if r["workload"] == workload}
        for ours in ("agentic-sqlite", "agentic-postgresql"):
            for peer in ("celery", "celery+results", "dbos"):
                if ours in by and peer in by and by[peer]:
                    print(f"- {workload}: {ours} / {peer} = {by[ours] / by[peer]:.1f}x")
    print("\n### Enqueue → start latency\n")
    print("| system | in flight meanwhile | probes | → start p50 ms | → start p99 ms | enqueue p50 ms |")
    print("|---|---|---|---|---|---|")
    for r in latency:
        print(
            f"| {r['system']} | {r['load_in_flight']} | {r['probes']} | {r['p50_ms']} | {r['p99_ms']} "
            f"| {r['enqueue_p50_ms']} |"
        )
    print("\n### In flight in one worker process (one 2 s step per task)\n")
    print("| system | tasks | peak in flight | wall s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for r in inflight:
        print(
            f"| {r['system']} | {r['tasks']} | {r['peak_in_flight']} | {r['wall_s']} | {r['peak_rss_mib']} |"
        )


if __name__ == "__main__":
    main()
