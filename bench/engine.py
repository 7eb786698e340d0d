"""Task engine benchmark: ours on SQLite and PostgreSQL, beside Celery + Redis and DBOS on the same workloads.

Every figure comes from a fresh process ("cell") so CPU time and peak RSS are that cell's own. Workloads
(each task is 3 sequential steps, every step checkpointed by our engine):

- **overhead**: zero-latency steps. What the engine itself costs per task (claim, 3 persisted steps with
  their events, completion).
- **realistic**: each step is a mock LLM call of 500 ms. All tasks are offered up front, faster than anyone
  can serve; ours runs with its default settings (1,000 slots).

The peers run at their best (bench/peers.py): Celery's threads pool at several sizes and its gevent pool at
1,000, each without and with a Redis result backend; DBOS at worker concurrency 100 and 1,000; procrastinate
(PostgreSQL-native, async) at several concurrencies. The ratios compare ours with each peer's fastest run.

Also measured for ours: what the worker asks the database per task (statements, round trips, transactions,
PostgreSQL's CPU and WAL), throughput with 1, 2 and 4 worker processes on one PostgreSQL, enqueue→start
latency (p50/p99) when idle and under load, and how many tasks one worker process holds in flight with a
2 s step (and at what RSS). Claims on deep queues: bench/claims.py.

    .venv/bin/python -m bench.engine                 # everything (a few minutes)
    .venv/bin/python -m bench.engine --quick         # smaller N, for a smoke run
    .venv/bin/python -m bench.engine cell throughput --db sqlite --workload overhead --tasks 3000
    .venv/bin/python -m bench.engine cell throughput --db postgresql --tasks 5000 --count
    .venv/bin/python -m bench.engine cell workers --processes 2 --tasks 10000
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


# --- counting what the database is asked ---------------------------------------------------------------


class StatementCounter:
    """What one engine sends the database: statements by verb, transactions, and pool checkouts.

    Counted with SQLAlchemy events in this process (`before_cursor_execute`, `begin`, `commit`, `rollback`,
    the pool's `checkout`). Each statement is one round trip (asyncpg runs a cached prepared statement in one;
    a multi-row INSERT is one statement); so are a transaction's BEGIN and COMMIT, and the ping that
    `pool_pre_ping` sends at every checkout.
    """

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.statements: dict[str, int] = {}
        # What the server executes: an executemany of n parameter sets is one round trip (asyncpg pipelines
        # it) but n executions of the statement.
        self.executions = 0
        self.counts = {"begin": 0, "commit": 0, "rollback": 0, "checkout": 0}
        self.on = False
        sync = engine.sync_engine

        def statement(_c: Any, _cur: Any, text: str, params: Any, _ctx: Any, many: bool) -> None:
            if self.on:
                verb = text.lstrip().split(None, 1)[0].upper() + (" (executemany)" if many else "")
                self.statements[verb] = self.statements.get(verb, 0) + 1
                self.executions += len(params) if many else 1

        def counter(name: str) -> Any:
            def count(*_: Any) -> None:
                if self.on:
                    self.counts[name] += 1

            return count

        event.listen(sync, "before_cursor_execute", statement)
        for name in ("begin", "commit", "rollback"):
            event.listen(sync, name, counter(name))
        event.listen(sync.pool, "checkout", counter("checkout"))

    def per_task(self, tasks: int) -> dict[str, Any]:
        """Everything counted, divided by `tasks`."""
        statements = sum(self.statements.values())
        trips = statements + self.counts["begin"] + self.counts["commit"] + self.counts["rollback"]
        trips += self.counts["checkout"]
        return {
            "statements_per_task": round(statements / tasks, 2),
            "server_executions_per_task": round(self.executions / tasks, 2),
            "transactions_per_task": round(self.counts["commit"] / tasks, 2),
            "round_trips_per_task": round(trips / tasks, 2),
            "by_verb_per_task": {k: round(v / tasks, 3) for k, v in sorted(self.statements.items())},
            "totals": {"statements": statements, **self.counts},
        }


def _postgres_cpu_s() -> float:
    """CPU seconds of every PostgreSQL server process on this machine, and of the backends it reaped.

    Backends are the postmaster's children: an exited backend's CPU is in the postmaster's cutime/cstime.
    """
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/comm").read_text().strip() != "postgres":
                continue
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


async def _wal_lsn(url: str) -> int:
    """The server's current WAL position, in bytes (cluster-wide)."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))
    finally:
        await conn.close()


# --- cells ----------------------------------------------------------------------------------------------


async def cell_throughput(
    db: str, workload: str, tasks: int, concurrency: int | None, count: bool = False
) -> dict[str, Any]:
    """Drain `tasks` queued tasks with one worker; tasks/s and CPU per task of this (the worker's) process.

    With `count`, also what the worker asked the database per task (`StatementCounter`; the cell's own
    polling then goes through a second engine, not counted) and, on PostgreSQL, the server's CPU and WAL.
    """
    async with _database(db) as url:
        worker = {} if concurrency is None else {"concurrency": concurrency}
        settings = _settings(url, **worker)
        engine, sessions = _open(url, settings)
        ids = await _seed(sessions)
        step_s = REALISTIC_STEP_S if workload == "realistic" else 0.0
        await _bulk_enqueue(sessions, ids, tasks, {"steps": STEPS, "step_s": step_s})
        counter = StatementCounter(engine) if count else None
        poll_engine, poll = _open(url, settings) if count else (engine, sessions)
        runtime = _worker(sessions, settings)
        server = db == "postgresql" and count
        pg_cpu0 = _postgres_cpu_s() if server else 0.0
        wal0 = await _wal_lsn(url) if server else 0
        if counter is not None:
            counter.on = True
        cpu0, t0 = _cpu_s(), time.perf_counter()
        runtime.start()
        try:
            while (done := await _count_finished(poll)) < tasks:
                if time.perf_counter() - t0 > 600:
                    raise TimeoutError(f"only {done}/{tasks} finished in 600 s")
                await asyncio.sleep(0.1)
            wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
            pg_cpu = _postgres_cpu_s() - pg_cpu0 if server else 0.0
        finally:
            await runtime.stop()
        if counter is not None:
            counter.on = False
        wal = await _wal_lsn(url) - wal0 if server else 0
        await _verify(poll, tasks, STEPS)
        run_s = await _mean_run_s(poll)
        await engine.dispose()
        if poll_engine is not engine:
            await poll_engine.dispose()
    result = {
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
    if counter is not None:
        result |= counter.per_task(tasks)
    if server:
        result |= {
            "postgres_cpu_ms_per_task": round(pg_cpu * 1000 / tasks, 2),
            "wal_bytes_per_task": round(wal / tasks),
        }
    return result


def _read_starts(folder: Path) -> list[dict[str, float]]:
    return [json.loads(f.read_text()) for f in folder.glob("*.json")]


def _write_start(path: str) -> None:
    Path(path + ".tmp").write_text(json.dumps({"ts": time.time(), "cpu_s": _cpu_s()}))
    os.replace(path + ".tmp", path)


async def cell_workers(procs: int, tasks: int) -> dict[str, Any]:
    """Drain `tasks` queued tasks (overhead workload) with `procs` worker processes on one PostgreSQL.

    The workers are started first and all begin at the same agreed moment (imports done), each with default
    settings (1,000 slots) and LISTEN/NOTIFY, as separate worker machines would. The clock runs from that
    moment to the last task's `finished_at`; CPU is the workers' own (from /proc), PostgreSQL's is apart.
    """
    from sqlalchemy import func, select

    from agentic.db.models import Task
    from bench.peers import process_tree, tree_cpu_s

    async with _database("postgresql") as url:
        settings = _settings(url)
        engine, sessions = _open(url, settings)
        ids = await _seed(sessions)
        await _bulk_enqueue(sessions, ids, tasks, {"steps": STEPS, "step_s": 0.0})
        tmp = Path(tempfile.mkdtemp(prefix="bench-workers-"))
        start_at = time.time() + 5 + 1.5 * procs  # every interpreter has imported everything by then
        argv = [sys.executable, "-m", "bench.engine", "worker", "--url", url, "--start-at", str(start_at)]
        children = [
            subprocess.Popen([*argv, "--ready-file", str(tmp / f"{n}.json")], cwd=REPO)  # noqa: S603, ASYNC220
            for n in range(procs)
        ]
        try:
            while len(starts := await asyncio.to_thread(_read_starts, tmp)) < procs:
                if time.time() > start_at + 60:
                    raise TimeoutError("the workers did not start")
                await asyncio.sleep(0.05)
            pg_cpu0 = _postgres_cpu_s()
            t_poll = time.perf_counter()
            while (done := await _count_finished(sessions)) < tasks:
                if time.perf_counter() - t_poll > 600:
                    raise TimeoutError(f"only {done}/{tasks} finished in 600 s")
                await asyncio.sleep(0.1)
            pg_cpu = _postgres_cpu_s() - pg_cpu0
            cpu = sum(tree_cpu_s(process_tree(c.pid)) for c in children) - sum(s["cpu_s"] for s in starts)
            async with sessions() as session:
                last = await session.scalar(select(func.max(Task.finished_at)))
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(timeout=60)
        await _verify(sessions, tasks, STEPS)
        await engine.dispose()
    t0 = min(s["ts"] for s in starts)
    wall = last.timestamp() - t0
    return {
        "system": "agentic-postgresql",
        "workload": "overhead",
        "processes": procs,
        "tasks": tasks,
        "wall_s": round(wall, 2),
        "tasks_per_s": round(tasks / wall, 1),
        "cpu_ms_per_task": round(cpu * 1000 / tasks, 2),
        "postgres_cpu_ms_per_task": round(pg_cpu * 1000 / tasks, 2),
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


async def run_worker(
    url: str, concurrency: int | None, start_at: float | None = None, ready_file: str | None = None
) -> None:
    """A standalone worker process (the PostgreSQL latency and multi-process cells), until SIGTERM.

    With `start_at`, it waits for that moment (a wall-clock time) before it starts claiming; with
    `ready_file`, it writes there when it started and the CPU it had used by then.
    """
    import signal

    from agentic.db.engine import create_engine, create_session_factory
    from agentic.engine.signals import SIGNALS_KEY, PostgresTransport, Signals

    settings = _settings(url) if concurrency is None else _settings(url, concurrency=concurrency)
    engine = create_engine(settings, url=url)
    signals = Signals(PostgresTransport(url))
    signals.start()
    sessions = create_session_factory(engine, info={SIGNALS_KEY: signals})
    runtime = _worker(sessions, settings)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
    if ready_file is not None:
        _write_start(ready_file)
    runtime.start()
    await stop.wait()
    await runtime.stop()
    await signals.stop()
    await engine.dispose()


# --- orchestration --------------------------------------------------------------------------------------


def _cell(*args: str, module: str = "bench.engine", timeout_s: float = 900) -> dict[str, Any]:
    """Run one cell in a fresh process (`python -m MODULE cell ARGS…`); its last output line, as JSON."""
    _log(f"  running: {module} cell {' '.join(args)}")
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-m", module, "cell", *args],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
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
    cell.add_argument("kind", choices=["throughput", "latency", "inflight", "workers"])
    cell.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    cell.add_argument("--workload", choices=["overhead", "realistic"], default="overhead")
    cell.add_argument("--tasks", type=int, default=2000)
    cell.add_argument("--concurrency", type=int)
    cell.add_argument("--load", type=int, default=0)
    cell.add_argument("--probes", type=int, default=200)
    cell.add_argument("--processes", type=int, default=1, help="workers: how many worker processes")
    cell.add_argument("--count", action="store_true", help="throughput: count statements, server CPU, WAL")
    worker = sub.add_parser("worker")
    worker.add_argument("--url", required=True)
    worker.add_argument("--concurrency", type=int, help="default: the platform's default (1,000)")
    worker.add_argument("--start-at", type=float, help="wall-clock time at which to start claiming")
    worker.add_argument("--ready-file", help="where to write when it started, and its CPU by then")
    args = parser.parse_args()
    _quiet_logs()

    if args.command == "worker":
        asyncio.run(run_worker(args.url, args.concurrency, args.start_at, args.ready_file))
        return
    if args.command == "cell":
        if args.kind == "throughput":
            result = asyncio.run(
                cell_throughput(args.db, args.workload, args.tasks, args.concurrency, args.count)
            )
        elif args.kind == "workers":
            result = asyncio.run(cell_workers(args.processes, args.tasks))
        elif args.kind == "latency":
            result = asyncio.run(cell_latency(args.db, args.load, args.probes))
        else:
            result = asyncio.run(cell_inflight(args.db, args.tasks))
        print(json.dumps(result))
        return
    orchestrate(quick=args.quick, peers=not args.no_peers)


# Peers at their best (issue 14): each family's settings tried on each workload; the tables show every run and
# the ratios use each family's fastest. Celery's threads pool at 100 is the configuration of issue 5.
def _peer_plan(quick: bool) -> list[tuple[str, str, list[str]]]:
    """(family, workload, arguments) of every peer run, the result-backend runs of Celery's threads aside."""
    over, real = ("1000", "300") if quick else ("5000", "1500")
    threads = {
        "overhead": [10, 100] if quick else [10, 100, 1000],
        "realistic": [100] if quick else [100, 500, 1000],
    }
    procrastinate = {
        "overhead": [100] if quick else [10, 100, 1000],
        "realistic": [1000] if quick else [100, 1000],
    }
    plan: list[tuple[str, str, list[str]]] = []
    for workload in ("overhead", "realistic"):

        def tasks(concurrency: int, workload: str = workload) -> str:
            # About 6 rounds of the pool on the realistic workload (DBOS gets fewer: it is slower).
            return over if workload == "overhead" else str(max(int(real), min(6000, concurrency * 6)))

        for c in threads[workload]:
            plan.append(
                (
                    "celery",
                    workload,
                    ["celery", "--pool", "threads", "--concurrency", str(c), "--tasks", tasks(c)],
                )
            )
        for backend in ([], ["--result-backend"]):
            gevent = ["celery", "--pool", "gevent", "--concurrency", "1000", "--tasks", tasks(1000), *backend]
            plan.append(("celery+results" if backend else "celery", workload, gevent))
        for c in [100, 1000]:
            plan.append(
                ("dbos", workload, ["dbos", "--concurrency", str(c), "--tasks", "300" if quick else "1000"])
            )
        for c in procrastinate[workload]:
            plan.append(
                ("procrastinate", workload, ["procrastinate", "--concurrency", str(c), "--tasks", tasks(c)])
            )
    return plan


def _label(r: dict[str, Any]) -> str:
    names = {
        "celery": "Celery",
        "celery+results": "Celery + results",
        "dbos": "DBOS",
        "procrastinate": "procrastinate",
    }
    if r["system"].startswith("agentic"):
        return f"**agentic, {'SQLite' if r['system'].endswith('sqlite') else 'PostgreSQL'}**"
    pool = f"{r['pool']} " if r["system"].startswith("celery") else ""
    return f"{names[r['system']]} ({pool}{r['concurrency']})"


def orchestrate(*, quick: bool, peers: bool) -> None:
    """Every cell, then the tables (Markdown, for docs/benchmarks.md)."""
    n_over, n_real, n_inflight = (1000, 1500, 1000) if quick else (5000, 6000, 5000)
    rows: list[dict[str, Any]] = []
    for workload, n in (("overhead", n_over), ("realistic", n_real)):
        for db in ("sqlite", "postgresql"):
            rows.append(_cell("throughput", "--db", db, "--workload", workload, "--tasks", str(n)))
    if peers:
        for _family, workload, args in _peer_plan(quick):
            result = _peer(*args, "--workload", workload)
            if result is not None:
                rows.append(result)
            _log(f"    {json.dumps({k: v for k, v in (result or {}).items() if k != 'settings'})}")
        for workload in ("overhead", "realistic"):
            # Celery's threads pool at its best count for this workload, with a result backend too.
            threads = [
                r
                for r in rows
                if r["system"] == "celery" and r["pool"] == "threads" and r["workload"] == workload
            ]
            if threads:
                best = max(threads, key=lambda r: r["tasks_per_s"])
                args = ["celery", "--pool", "threads", "--concurrency", str(best["concurrency"])]
                result = _peer(
                    *args, "--tasks", str(best["tasks"]), "--result-backend", "--workload", workload
                )
                if result is not None:
                    rows.append(result)
    counted = [
        _cell("throughput", "--db", db, "--workload", workload, "--tasks", str(n), "--count")
        for db, workload, n in (
            ("postgresql", "overhead", n_over),
            ("sqlite", "overhead", n_over),
            ("postgresql", "realistic", n_real),
        )
    ]
    scaling = [_cell("workers", "--processes", str(p), "--tasks", str(2 * n_over)) for p in (1, 2, 4)]
    latency = [
        _cell("latency", "--db", db, "--load", str(load), "--probes", "100" if quick else "300")
        for db in ("sqlite", "postgresql")
        for load in (0, 500)
    ]
    inflight = [_cell("inflight", "--db", db, "--tasks", str(n_inflight)) for db in ("sqlite", "postgresql")]

    _print_throughput(rows)
    _print_database(counted, scaling)
    _print_latency(latency, inflight)


def _print_throughput(rows: list[dict[str, Any]]) -> None:
    print("\n### Throughput (one worker process, 3 steps per task)\n")
    print("| system (pool, concurrency) | workload | tasks | tasks/s | CPU ms/task | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for workload in ("overhead", "realistic"):
        for r in (r for r in rows if r["workload"] == workload):
            print(
                f"| {_label(r)} | {workload} | {r['tasks']:,} | {r['tasks_per_s']} | "
                f"{r.get('cpu_ms_per_task', '')} | {r.get('peak_rss_mib', '')} |"
            )
    print("\n### Ratios (ours ÷ each peer family at its best, tasks/s)\n")
    for workload in ("overhead", "realistic"):
        top: dict[str, dict[str, Any]] = {}
        for r in rows:
            seen = top.get(r["system"])
            if r["workload"] == workload and (seen is None or r["tasks_per_s"] > seen["tasks_per_s"]):
                top[r["system"]] = r
        for ours in ("agentic-sqlite", "agentic-postgresql"):
            for peer in ("celery", "celery+results", "dbos", "procrastinate"):
                if ours in top and peer in top and top[peer]["tasks_per_s"]:
                    ratio = top[ours]["tasks_per_s"] / top[peer]["tasks_per_s"]
                    print(f"- {workload}: {ours} / {_label(top[peer])} = {ratio:.1f}x")


def _print_database(counted: list[dict[str, Any]], scaling: list[dict[str, Any]]) -> None:
    print("\n### What the worker asks the database, per task\n")
    print(
        "| database | workload | tasks/s | round trips | statements | server executions | transactions "
        "| worker CPU ms | PostgreSQL CPU ms | WAL bytes |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in counted:
        print(
            f"| {r['system']} | {r['workload']} | {r['tasks_per_s']} | {r['round_trips_per_task']} | "
            f"{r['statements_per_task']} | {r['server_executions_per_task']} | "
            f"{r['transactions_per_task']} | {r['cpu_ms_per_task']} | "
            f"{r.get('postgres_cpu_ms_per_task', '')} | {r.get('wal_bytes_per_task', '')} |"
        )
    for r in counted:
        print(
            f"- {r['system']} {r['workload']}: {json.dumps(r['by_verb_per_task'])}; "
            f"totals {json.dumps(r['totals'])}"
        )
    print("\n### Worker processes on one PostgreSQL (overhead workload)\n")
    print("| worker processes | tasks | tasks/s | workers' CPU ms/task | PostgreSQL CPU ms/task |")
    print("|---|---|---|---|---|")
    for r in scaling:
        print(
            f"| {r['processes']} | {r['tasks']:,} | {r['tasks_per_s']} | {r['cpu_ms_per_task']} | "
            f"{r['postgres_cpu_ms_per_task']} |"
        )


def _print_latency(latency: list[dict[str, Any]], inflight: list[dict[str, Any]]) -> None:
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
