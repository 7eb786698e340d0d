"""Deep queues: how long a claim takes with 1,000 and with 100,000 tasks queued (issue 14).

One fresh process per cell, as in bench/engine.py. A cell queues `--queued` tasks in a fresh database (a
SQLite file, or a new PostgreSQL database), spread over 10 organisations in interleaved chunks of 1,000 (so
the fair-claim window has several organisations to rank), runs `ANALYZE` on PostgreSQL, then:

1. **Claim batches.** `store.claim_tasks(limit=B)` for B = 100 and B = 1,000, `--repeat` times each, every
   call timed from opening its session to its commit. After each timed claim the claimed tasks are put back
   in the queue (untimed), so every claim sees the same depth.
2. **The plan** of the claim's ranking statement, as the engine sent it (captured with SQLAlchemy's
   `before_cursor_execute`): `EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite.
3. **Draining.** A worker with default settings (1,000 slots) runs the overhead workload (3 zero-latency
   checkpointed steps per task) until `--drain` tasks have finished: tasks/s of the first N.

    .venv/bin/python -m bench.claims                      # 1,000 and 100,000 queued, both databases
    .venv/bin/python -m bench.claims --quick              # 1,000 and 10,000 queued
    .venv/bin/python -m bench.claims cell --db postgresql --queued 100000 --drain 1000 --plan
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from bench.engine import (
    STEPS,
    _bulk_enqueue,
    _cell,
    _count_finished,
    _database,
    _log,
    _open,
    _quiet_logs,
    _settings,
    _worker,
)

ORGS = 10
CHUNK = 1000


async def _seed_orgs(sessions: Any, count: int) -> list[tuple[Any, Any, Any]]:
    from agentic.db.models import Agent, AgentVersion, Organization

    seeded = []
    async with sessions() as session:
        for number in range(count):
            org = Organization(name=f"Bench {number}", slug=f"bench-{number}", settings={})
            session.add(org)
            await session.flush()
            agent = Agent(org_id=org.id, name="bench")
            session.add(agent)
            await session.flush()
            version = AgentVersion(org_id=org.id, agent_id=agent.id, version=1, config={})
            session.add(version)
            await session.flush()
            seeded.append((org.id, agent.id, version.id))
        await session.commit()
    return seeded


async def _requeue(sessions: Any) -> None:
    """Put every running task back in the queue (untimed): the next claim sees the same depth."""
    from sqlalchemy import update

    from agentic.db.models import Task, TaskState

    async with sessions() as session:
        await session.execute(
            update(Task)
            .where(Task.state == TaskState.RUNNING)
            .values(state=TaskState.QUEUED, lease_owner=None, lease_expires_at=None)
        )
        await session.commit()


async def _analyze(engine: Any, db: str) -> None:
    from sqlalchemy import text

    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE tasks" if db == "postgresql" else "ANALYZE"))


def _capture(engine: Any, into: list[tuple[str, Any]]) -> Any:
    """Record the statements the engine sends (text and parameters as the driver gets them)."""
    from sqlalchemy import event

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        into.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    return before


async def _plan(engine: Any, db: str, sessions: Any, limit: int) -> str:
    """The claim's ranking statement, explained as the engine sent it (rolled back: nothing is claimed)."""
    from sqlalchemy import event

    from agentic.engine import store

    sent: list[tuple[str, Any]] = []
    listener = _capture(engine, sent)
    async with sessions() as session:
        await store.claim_tasks(session, worker_id="plan", limit=limit, lease_s=300)
    event.remove(engine.sync_engine, "before_cursor_execute", listener)
    await _requeue(sessions)
    marker = "FOR UPDATE" if db == "postgresql" else "UPDATE tasks"
    statement, parameters = next((s, p) for s, p in sent if marker in s)
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if db == "postgresql" else "EXPLAIN QUERY PLAN "
    async with engine.connect() as conn:
        rows = (await conn.exec_driver_sql(prefix + statement, parameters)).all()
        await conn.rollback()
    lines = [row[0] if db == "postgresql" else f"{row[1]} {row[2]} {row[3]}" for row in rows]
    return "\n".join(lines)


async def cell(db: str, queued: int, drain: int, repeat: int, plan: bool) -> dict[str, Any]:
    """Time claims at a queue depth of `queued`, then drain the first `drain` tasks with a worker."""
    from agentic.engine import store

    async with _database(db) as url:
        settings = _settings(url)
        engine, sessions = _open(url, settings)
        orgs = await _seed_orgs(sessions, ORGS)
        t = time.perf_counter()
        for number, start in enumerate(range(0, queued, CHUNK)):
            count = min(CHUNK, queued - start)
            await _bulk_enqueue(sessions, orgs[number % ORGS], count, {"steps": STEPS, "step_s": 0.0})
        await _analyze(engine, db)
        _log(f"  queued {queued} in {time.perf_counter() - t:.1f} s")
        claims: dict[str, Any] = {}
        for batch in (100, 1000):
            timings = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                async with sessions() as session:
                    got = await store.claim_tasks(session, worker_id="bench", limit=batch, lease_s=300)
                timings.append((time.perf_counter() - t0) * 1000)
                assert len(got) == min(batch, queued), len(got)  # noqa: S101
                await _requeue(sessions)
            claims[str(batch)] = {
                "median_ms": round(statistics.median(timings), 2),
                "min_ms": round(min(timings), 2),
                "max_ms": round(max(timings), 2),
            }
        explained = await _plan(engine, db, sessions, 100) if plan else None
        runtime = _worker(sessions, settings)
        marks = sorted({min(1000, drain), drain})
        drained: dict[str, float] = {}
        t0 = time.perf_counter()
        runtime.start()
        try:
            while marks:
                done = await _count_finished(sessions)
                while marks and done >= marks[0]:
                    drained[str(marks.pop(0))] = round(time.perf_counter() - t0, 2)
                if time.perf_counter() - t0 > 300:
                    raise TimeoutError(f"only {done}/{drain} finished in 300 s")
                await asyncio.sleep(0.05)
        finally:
            await runtime.stop()
        await engine.dispose()
    result = {
        "db": db,
        "queued": queued,
        "claim_ms": claims,
        "drain_s": drained,
        "drain_tasks_per_s": {n: round(int(n) / s, 1) for n, s in drained.items()},
    }
    if explained is not None:
        result["plan"] = explained
    return result


def _run_cell(*args: str) -> dict[str, Any]:
    return _cell(*args, module="bench.claims", timeout_s=1800)


def main() -> None:
    """Run the cells (or one) and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 queued")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], action="append")
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("cell")
    one.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    one.add_argument("--queued", type=int, required=True)
    one.add_argument("--drain", type=int, default=1000)
    one.add_argument("--repeat", type=int, default=7)
    one.add_argument("--plan", action="store_true")
    args = parser.parse_args()
    _quiet_logs()
    if args.command == "cell":
        result = asyncio.run(cell(args.db, args.queued, min(args.drain, args.queued), args.repeat, args.plan))
        print(json.dumps(result))
        return
    deep = 10_000 if args.quick else 100_000
    rows = []
    for db in args.db or ["postgresql", "sqlite"]:
        for queued in (1000, deep):
            drain = str(min(queued, 5000))
            rows.append(_run_cell("--db", db, "--queued", str(queued), "--drain", drain, "--plan"))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "plan"}), file=sys.stderr)
    print(
        "| database | queued | claim of 100, median ms | claim of 1,000, median ms "
        "| first 1,000 drained, tasks/s | first 5,000 drained, tasks/s |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        rates = r["drain_tasks_per_s"]
        print(
            f"| {r['db']} | {r['queued']:,} | {r['claim_ms']['100']['median_ms']} | "
            f"{r['claim_ms']['1000']['median_ms']} | {rates.get('1000', '')} | {rates.get('5000', '')} |"
        )
    for r in rows:
        print(f"\nPlan, {r['db']}, {r['queued']:,} queued, claim of 100:\n\n```\n{r['plan']}\n```")


if __name__ == "__main__":
    main()
