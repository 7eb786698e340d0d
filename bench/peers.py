"""Peer systems on the task-engine benchmark's workloads: Celery + Redis, DBOS Transact and procrastinate.

Every task is 3 sequential mock LLM calls ("steps"), each returning ``{"text": "ok", "tokens": 12}``:

- **realistic**: each step sleeps 500 ms (a mock LLM call);
- **overhead**: each step returns at once, so what is left is the system's own cost per task.

How a run goes, for both systems:

1. The backlog: all N tasks are enqueued before the worker process starts, so the worker always has
   more offered than it can serve.
2. The worker is a **separate process** (Celery: ``celery worker --pool threads|gevent --concurrency N``;
   DBOS: this module's hidden ``_dbos-worker`` mode, one DBOS process with a queue at worker concurrency
   N; procrastinate: the hidden ``_procrastinate-worker`` mode, ``App.run_worker_async(concurrency=N)``),
   so its CPU and memory are its own, not the enqueuer's. N is ``--concurrency`` (default 100).
3. The clock starts when the worker reports it is ready to consume (Celery's ``worker_ready`` signal;
   DBOS: ``DBOS.launch()`` has returned). Interpreter start and imports are not timed (our engine's cell
   in bench/engine.py also starts its clock at ``runtime.start()``, imports done), but everything after
   ready is, including how long the worker takes to pick up its first task (DBOS polls its queue).
4. The clock stops at the last task's completion as the system itself stamped it (Celery: the task whose
   Redis INCR brings the counter to N; DBOS: ``max(completed_at)`` in its ``workflow_status`` table).
   The parent only polls (every 100 ms, Redis counter / SQL count) to learn that everything is done.
5. ``worker_cpu_s``: user+system CPU of the worker process tree (``/proc/<pid>/stat`` utime+stime, plus
   cutime+cstime of reaped children) read when the parent sees the last completion, minus the CPU the
   worker had used when it reported ready (imports and startup: a fixed cost, not a cost per task).
   ``peak_rss_mib``: VmHWM from ``/proc/<pid>/status``, summed over the worker process tree. Neither
   counts the Redis or PostgreSQL server processes.

DBOS settings (3.4 API): the queue is registered in the system database with ``worker_concurrency=100``
(the per-process limit DBOS's docs recommend for most uses; each process then needs a unique
``executor_id``), no global concurrency, no rate limit, and DBOS's default ``polling_interval_sec`` of
1.0 (``--dbos-polling-interval`` changes it). The workflow and its steps are sync functions, the form
DBOS's docs lead with: DBOS runs sync workflows in its thread pool, as Celery runs tasks in its threads.

Celery runs without a result backend by default (``task_ignore_result``: only the counter records a
completion). ``--result-backend`` (system "celery+results") makes Celery persist every task's outcome,
as a durable engine does: result backend Redis db 12, ``task_ignore_result=False``, and the task returns
the list of its 3 step results, which the worker stores (``celery-task-meta-<id>``) when the task ends.
Only the worker has the backend: the enqueuer sends ``ignore_result=False`` but does not subscribe to
results (nothing reads them during the run); after the run the parent counts the stored results.

Celery's ``--pool gevent`` runs each task in a greenlet of a monkey-patched worker (``celery`` patches
before anything is imported when it sees the option), so the steps' ``time.sleep`` yields to the other
tasks: a thousand tasks in flight cost a thousand greenlets, not threads.

procrastinate (PostgreSQL-native, async, LISTEN/NOTIFY; bench/_procrastinate_app.py) runs the task as a
coroutine whose steps ``await asyncio.sleep``, like ours. It checkpoints nothing inside a job and stores
no result: a job's record is its status and its events. The worker fetches jobs one at a time (one
``procrastinate_fetch_job`` call each) through a psycopg pool of ``--pool-size`` connections (default 10);
the clock stops at the last ``succeeded`` event.

Then the worker is stopped (SIGTERM, SIGKILL after 30 s) and everything is cleaned up: Redis db 13 (and
db 12 with ``--result-backend``) is flushed (before and after), the DBOS database
(``bench_peer_dbos_<random>``) is dropped.

    .venv/bin/python -m bench.peers celery --workload overhead --tasks 2000
    .venv/bin/python -m bench.peers celery --workload overhead --tasks 2000 --result-backend
    .venv/bin/python -m bench.peers dbos --workload realistic --tasks 300
    .venv/bin/python -m bench.peers celery --workload realistic --tasks 6000 --pool gevent --concurrency 1000
    .venv/bin/python -m bench.peers dbos --workload overhead --tasks 1000 --concurrency 1000
    .venv/bin/python -m bench.peers procrastinate --workload overhead --tasks 5000 --concurrency 100

Prints exactly one JSON line on stdout; progress goes to stderr. Exit status: 0 when all N completed, 1
when some did not (the JSON line is still printed), 2 when Redis or PostgreSQL is not reachable.
``BENCH_REDIS``, ``BENCH_REDIS_RESULTS`` and ``BENCH_PG`` override the Redis URL, the Redis result
backend URL and the PostgreSQL admin URL.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]

REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/13")
RESULTS_URL = os.environ.get("BENCH_REDIS_RESULTS", "redis://127.0.0.1:6379/12")
PG_ADMIN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

STEPS = 3
REALISTIC_STEP_S = 0.5
CONCURRENCY = 100
POLL_S = 0.1
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
PROGRESS_EVERY_S = 5.0

# Shared with bench/_celery_app.py, which runs in the Celery worker process.
READY_FILE_ENV = "BENCH_PEERS_READY_FILE"
RESULT_BACKEND_ENV = "BENCH_PEERS_RESULT_BACKEND"  # set (to the backend URL) only in the worker's env
CELERY_RESULT_PREFIX = "celery-task-meta-"
CELERY_QUEUE = "bench_peers"
COUNTER_KEY = "bench_peers:completed"
CELERY_DONE_KEY = "bench_peers:last_done_ts"
CELERY_FIRST_START_KEY = "bench_peers:first_start_ts"

DBOS_APP = "bench_peers"
DBOS_QUEUE = "bench_peers"
DBOS_WORKFLOW = "bench_peers.three_steps"
DBOS_STEP = "bench_peers.mock_llm_call"
DBOS_DB_PREFIX = "bench_peer_dbos_"
DBOS_DEFAULT_POLLING_S = 1.0  # DBOS's own default for polling_interval_sec
DBOS_WORKER_MODE = "_dbos-worker"
DBOS_DRAIN_S = 5

PROCRASTINATE_QUEUE = "bench_peers"
PROCRASTINATE_TASK = "bench.peers.three_steps"
PROCRASTINATE_DB_PREFIX = "bench_peer_procrastinate_"
PROCRASTINATE_WORKER_MODE = "_procrastinate-worker"
PROCRASTINATE_POOL = 10


class ServiceUnavailable(Exception):
    """Redis or PostgreSQL cannot be reached: the run cannot start."""


def _log(message: str) -> None:
    sys.stderr.write(f"[bench.peers] {message}\n")
    sys.stderr.flush()


def mock_llm_call(step_s: float) -> dict[str, Any]:
    """One step of the workload: a mock LLM call.

    Args:
        step_s: How long the call takes; 0 returns at once (the overhead workload).

    Returns:
        A small answer, like a model's text and token count.
    """
    if step_s > 0:
        time.sleep(step_s)
    return {"text": "ok", "tokens": 12}


def write_ready_file(path: str) -> None:
    """Record, from inside a worker, that it is ready to consume: the wall time and its CPU time so far.

    Args:
        path: Where the parent waits for the file. Written to a temporary name and renamed, so the parent
            never reads half of it.
    """
    payload = {"ts": time.time(), "cpu_s": time.process_time()}
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f)
    os.replace(tmp, path)


# --- the worker process: /proc accounting and lifecycle ------------------------------------------------

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (after the command name, which may hold spaces), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def process_tree(pid: int) -> list[int]:
    """The process and all its live descendants.

    Args:
        pid: The root of the tree.

    Returns:
        Their pids, root first.
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) of these processes, their threads and their reaped children.

    Args:
        pids: The processes, e.g. from `process_tree`.

    Returns:
        utime + stime + cutime + cstime, summed.
    """
    ticks = 0
    for pid in pids:
        if (fields := _stat_fields(pid)) is not None:
            # utime, stime, cutime, cstime are fields 14-17 of stat(5); this list starts at field 3.
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / _CLK_TCK


def tree_peak_rss_mib(pids: list[int]) -> float:
    """Peak resident set size (VmHWM) of these processes, summed, in MiB.

    Args:
        pids: The processes, e.g. from `process_tree`.

    Returns:
        The sum of their VmHWM.
    """
    kib = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                kib += int(line.split()[1])
    return kib / 1024


class Ready(NamedTuple):
    """What a worker reported when it became ready to consume."""

    ts: float
    cpu_s: float


class Usage(NamedTuple):
    """The worker process tree's resource use, read from /proc while it is still alive."""

    cpu_s: float
    peak_rss_mib: float


class WorkerProcess:
    """A worker in its own process: started, awaited until ready, measured, and always stopped.

    Its stdout goes to our stderr (Celery prints its banner there), so our stdout carries only the result.
    """

    def __init__(self, argv: list[str], label: str, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.label = label
        self.env = env or {}
        self._tmpdir = tempfile.mkdtemp(prefix="bench-peers-")
        self.ready_file = os.path.join(self._tmpdir, "ready.json")
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> WorkerProcess:
        env = {**os.environ, **self.env, READY_FILE_ENV: self.ready_file}
        self._proc = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            self.argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno()
        )
        _log(f"{self.label}: worker started (pid {self._proc.pid})")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        """The running process (only inside the `with` block)."""
        if self._proc is None:
            raise RuntimeError("the worker process was not started")
        return self._proc

    def check_alive(self) -> None:
        """Raise if the worker has exited on its own, so no wait outlives it."""
        code = self.proc.poll()
        if code is not None:
            raise RuntimeError(f"{self.label} worker exited early with status {code}")

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> Ready:
        """Wait until the worker writes its ready file.

        Args:
            timeout_s: How long to wait.

        Returns:
            When it became ready and the CPU it had used by then.

        Raises:
            TimeoutError: It did not become ready in time.
        """
        deadline = time.monotonic() + timeout_s
        while not os.path.exists(self.ready_file):
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.label} worker not ready after {timeout_s:.0f} s")
            time.sleep(0.01)
        with open(self.ready_file, encoding="utf-8") as f:
            data = json.load(f)
        return Ready(ts=float(data["ts"]), cpu_s=float(data["cpu_s"]))

    def usage(self) -> Usage:
        """CPU and peak RSS of the worker process tree, now."""
        pids = process_tree(self.proc.pid)
        return Usage(cpu_s=tree_cpu_s(pids), peak_rss_mib=tree_peak_rss_mib(pids))

    def stop(self) -> None:
        """SIGTERM (a warm shutdown for Celery, `DBOS.destroy()` for DBOS), SIGKILL if it lingers."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _log(f"{self.label}: worker ignored SIGTERM for {STOP_TIMEOUT_S:.0f} s, killing it")
            proc.kill()
            proc.wait(timeout=10)
        _log(f"{self.label}: worker stopped (status {proc.returncode})")


def wait_for_completions(
    count: Callable[[], int], tasks: int, worker: WorkerProcess, timeout_s: float
) -> tuple[int, float]:
    """Poll a completion count every 100 ms until it reaches `tasks` (or the timeout).

    Args:
        count: Returns how many tasks have finished so far.
        tasks: How many were enqueued.
        worker: Checked on every poll, so a crashed worker ends the wait at once.
        timeout_s: Give up after this long.

    Returns:
        How many finished, and the wall time (`time.time()`) at which the parent saw that.
    """
    start = time.monotonic()
    next_report = start + PROGRESS_EVERY_S
    while True:
        done = count()
        now = time.monotonic()
        if done >= tasks:
            return done, time.time()
        worker.check_alive()
        if now - start > timeout_s:
            _log(f"{worker.label}: timed out after {timeout_s:.0f} s with {done}/{tasks} done")
            return done, time.time()
        if now >= next_report:
            _log(f"{worker.label}: {done}/{tasks} done after {now - start:.1f} s")
            next_report = now + PROGRESS_EVERY_S
        time.sleep(POLL_S)


def _result(
    *,
    system: str,
    workload: str,
    tasks: int,
    completed: int,
    wall_s: float,
    cpu_s: float,
    peak_rss_mib: float,
    settings: str,
    pool: str,
    concurrency: int,
) -> dict[str, Any]:
    return {
        "system": system,
        "pool": pool,
        "concurrency": concurrency,
        "workload": workload,
        "tasks": tasks,
        "completed": completed,
        "wall_s": round(wall_s, 3),
        "tasks_per_s": round(completed / wall_s, 1) if wall_s > 0 else 0.0,
        "worker_cpu_s": round(cpu_s, 3),
        "cpu_ms_per_task": round(cpu_s * 1000 / completed, 3) if completed else 0.0,
        "peak_rss_mib": round(peak_rss_mib, 1),
        "settings": settings,
    }


def _step_s(workload: str) -> float:
    return REALISTIC_STEP_S if workload == "realistic" else 0.0


# --- Celery + Redis --------------------------------------------------------------------------------------


def _connect_redis(url: str) -> Any:
    """A redis client on `url`, checked with a PING.

    Raises:
        ServiceUnavailable: Redis is not reachable.
    """
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=30)
    try:
        client.ping()
    except redis.RedisError as e:
        client.close()
        raise ServiceUnavailable(f"Redis is not reachable at {url}: {e}") from e
    return client


def run_celery(
    workload: str,
    tasks: int,
    timeout_s: float,
    result_backend: bool = False,
    *,
    pool: str = "threads",
    concurrency: int = CONCURRENCY,
) -> dict[str, Any]:
    """N tasks through Celery: Redis broker (db 13), one worker process with the given pool.

    Args:
        workload: "realistic" or "overhead".
        tasks: How many tasks to run.
        timeout_s: Give up waiting for completions after this long.
        result_backend: Store every task's result in the Redis result backend (db 12).
        pool: Celery's execution pool: "threads" or "gevent" (greenlets; the worker is monkey-patched, so
            `time.sleep` in a step yields to the other tasks).
        concurrency: The pool's size (threads or greenlets).

    Returns:
        The result record (see the module docstring).

    Raises:
        ServiceUnavailable: Redis is not reachable.
    """
    client = _connect_redis(REDIS_URL)
    try:
        results = _connect_redis(RESULTS_URL) if result_backend else None
    except ServiceUnavailable:
        client.close()
        raise
    # db 13 belongs to this benchmark: leftovers of an interrupted run would be counted as completions.
    # db 12 (with --result-backend) too: stored results are counted after the run.
    client.flushdb()
    if results is not None:
        results.flushdb()
    try:
        from bench import _celery_app

        step_s = _step_s(workload)
        t = time.perf_counter()
        # One producer (one connection) for the whole backlog instead of a pool checkout per message.
        with _celery_app.app.producer_or_acquire() as producer:
            # With a result backend the message says ignore_result=False, so the worker stores the result;
            # the parent itself has no backend, so it does not subscribe to 5000 result channels.
            options: dict[str, Any] = {"ignore_result": False} if result_backend else {}
            for _ in range(tasks):
                _celery_app.three_steps.apply_async((step_s, tasks), producer=producer, **options)
        queued = int(client.llen(CELERY_QUEUE))
        _log(f"celery: enqueued {tasks} tasks in {time.perf_counter() - t:.2f} s ({queued} in the queue)")

        argv = [
            sys.executable, "-m", "celery", "-A", "bench._celery_app", "worker",
            "--pool", pool, "--concurrency", str(concurrency),
            "--without-heartbeat", "--without-gossip", "--without-mingle",
            "-Q", CELERY_QUEUE, "--loglevel", "WARNING",
        ]  # fmt: skip
        worker_env = {RESULT_BACKEND_ENV: RESULTS_URL} if result_backend else {}
        with WorkerProcess(argv, "celery", env=worker_env) as worker:
            ready = worker.wait_ready()
            completed, seen_ts = wait_for_completions(
                lambda: int(client.get(COUNTER_KEY) or 0), tasks, worker, timeout_s
            )
            usage = worker.usage()
            last_done = client.get(CELERY_DONE_KEY)
            first_start = client.get(CELERY_FIRST_START_KEY)
        end_ts = float(last_done) if last_done is not None else seen_ts
        lag = f"{float(first_start) - ready.ts:.3f} s" if first_start is not None else "n/a"
        cpu_s = usage.cpu_s - ready.cpu_s
        _log(f"celery: ready -> first task started: {lag}; startup CPU {ready.cpu_s:.2f} s (excluded)")
        conf = _celery_app.app.conf
        if results is not None:
            stored = _count_stored_results(results)
            _log(f"celery: {stored}/{tasks} results stored in {RESULTS_URL}")
            backend = (
                f"result backend {RESULTS_URL}, task_ignore_result=False: the worker stores each task's "
                f"return value (its {STEPS} step results) with SETEX + PUBLISH, result_expires "
                f"{_seconds(conf.result_expires):.0f} s (the default); the enqueuer sends "
                "ignore_result=False and does not subscribe; "
                f"{stored}/{tasks} results found in the backend after the run"
            )
        else:
            backend = "no result backend, task_ignore_result"
        settings = (
            f"Celery {importlib.metadata.version('celery')} + Redis {client.info()['redis_version']} "
            f"(broker {REDIS_URL}, {backend}); worker: separate process "
            f"`celery worker --pool {pool} --concurrency {concurrency} --without-heartbeat "
            "--without-gossip --without-mingle --loglevel WARNING`, Celery defaults otherwise (prefetch "
            f"multiplier {conf.worker_prefetch_multiplier}, acks_late={conf.task_acks_late}); "
            f"task = {STEPS} sequential steps "
            f"({'time.sleep(0.5) each' if step_s else 'no-op'}) then a Redis INCR that the parent polls; "
            "all tasks enqueued before the worker started; clock: worker_ready signal -> the last task's "
            f"own finish stamp (first task started {lag} after ready); worker CPU from /proc at completion "
            f"minus {ready.cpu_s:.2f} s startup CPU; peak RSS = VmHWM of the worker process tree"
        )
        return _result(
            system="celery+results" if result_backend else "celery",
            workload=workload,
            tasks=tasks,
            completed=completed,
            wall_s=end_ts - ready.ts,
            cpu_s=cpu_s,
            peak_rss_mib=usage.peak_rss_mib,
            settings=settings,
            pool=pool,
            concurrency=concurrency,
        )
    finally:
        client.flushdb()
        client.close()
        if results is not None:
            results.flushdb()
            results.close()


def _seconds(value: Any) -> float:
    # Celery settings such as result_expires may be a timedelta or a number of seconds.
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)


def _count_stored_results(results: Any) -> int:
    """Count the task results the Redis result backend holds; decode one of them as a spot check.

    The sample must say SUCCESS and hold the 3 step results, or it is logged (checking every key would
    only slow the cleanup down).

    Args:
        results: A redis client on the result backend's database.

    Returns:
        The number of ``celery-task-meta-*`` keys.
    """
    stored = sum(1 for _ in results.scan_iter(match=f"{CELERY_RESULT_PREFIX}*", count=1000))
    key = results.randomkey()
    if key is not None:
        meta = json.loads(results.get(key))
        expected = [mock_llm_call(0) for _ in range(STEPS)]
        if meta.get("status") != "SUCCESS" or meta.get("result") != expected:
            _log(f"celery: unexpected stored result under {key!r}: {meta}")
    return int(stored)


# --- DBOS Transact ---------------------------------------------------------------------------------------


def _sqlalchemy_url(url: str) -> str:
    # DBOS takes plain postgresql:// URLs and picks psycopg 3 itself; SQLAlchemy must be told.
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def run_dbos(
    workload: str, tasks: int, timeout_s: float, polling_interval_s: float, concurrency: int = CONCURRENCY
) -> dict[str, Any]:
    """N workflows through DBOS: a fresh PostgreSQL system database, one worker process.

    The parent creates the database, migrates it (`DBOS.migrate`), registers the queue and enqueues every
    workflow with a `DBOSClient` (DBOS's API for enqueueing from outside the application), then starts
    the worker: `DBOS(config=...)` + `DBOS.launch()` in a child process, which dequeues and runs them.

    Args:
        workload: "realistic" or "overhead".
        tasks: How many workflows to run.
        timeout_s: Give up waiting for completions after this long.
        polling_interval_s: The queue's `polling_interval_sec` (DBOS's default is 1.0).
        concurrency: The queue's `worker_concurrency` (workflows one worker process runs at once).

    Returns:
        The result record (see the module docstring).

    Raises:
        ServiceUnavailable: PostgreSQL is not reachable.
    """
    import sqlalchemy as sa

    name = f"{DBOS_DB_PREFIX}{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        _sqlalchemy_url(PG_ADMIN), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            server_version = str(conn.execute(sa.text("SHOW server_version")).scalar())
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as e:
        admin.dispose()
        raise ServiceUnavailable(f"PostgreSQL is not reachable at {PG_ADMIN}: {e.orig}") from e
    url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    _log(f"dbos: created database {name}")
    try:
        return _run_dbos_on(
            url,
            server_version=server_version,
            workload=workload,
            tasks=tasks,
            timeout_s=timeout_s,
            polling_interval_s=polling_interval_s,
            concurrency=concurrency,
        )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        _log(f"dbos: dropped database {name}")


def _run_dbos_on(
    url: str,
    *,
    server_version: str,
    workload: str,
    tasks: int,
    timeout_s: float,
    polling_interval_s: float,
    concurrency: int,
) -> dict[str, Any]:
    import sqlalchemy as sa
    from dbos import DBOS, DBOSClient

    step_s = _step_s(workload)
    DBOS.migrate(url)
    client = DBOSClient(system_database_url=url, application_name=DBOS_APP)
    try:
        # DBOS 3.4 queues live in the system database (Queue() can no longer be constructed directly).
        # worker_concurrency is the per-process limit DBOS recommends; no global limit, no rate limit.
        client.register_queue(
            DBOS_QUEUE, worker_concurrency=concurrency, polling_interval_sec=polling_interval_s
        )
        t = time.perf_counter()
        for _ in range(tasks):
            client.enqueue({"workflow_name": DBOS_WORKFLOW, "queue_name": DBOS_QUEUE}, step_s)
        _log(f"dbos: enqueued {tasks} workflows in {time.perf_counter() - t:.2f} s")
    finally:
        client.destroy()

    engine = sa.create_engine(
        _sqlalchemy_url(url), pool_size=1, max_overflow=0, connect_args={"connect_timeout": 3}
    )
    count_sql = sa.text(
        "SELECT count(*) FROM dbos.workflow_status WHERE name = :name "
        "AND status NOT IN ('ENQUEUED', 'PENDING', 'DELAYED')"
    )
    stamps_sql = sa.text(
        "SELECT count(*) FILTER (WHERE status = 'SUCCESS'), min(started_at_epoch_ms), max(completed_at) "
        "FROM dbos.workflow_status WHERE name = :name"
    )

    def finished() -> int:
        with engine.connect() as conn:
            return int(conn.execute(count_sql, {"name": DBOS_WORKFLOW}).scalar_one())

    argv = [
        sys.executable, "-m", "bench.peers", DBOS_WORKER_MODE,
        "--db-url", url, "--executor-id", f"bench-peers-{uuid.uuid4().hex[:8]}",
    ]  # fmt: skip
    try:
        with WorkerProcess(argv, "dbos") as worker:
            ready = worker.wait_ready()
            _, seen_ts = wait_for_completions(finished, tasks, worker, timeout_s)
            usage = worker.usage()
            # Read before the worker stops: after a timeout, its shutdown drain would add completions.
            with engine.connect() as conn:
                succeeded, first_ms, last_ms = conn.execute(stamps_sql, {"name": DBOS_WORKFLOW}).one()
    finally:
        engine.dispose()
    end_ts = last_ms / 1000 if last_ms is not None else seen_ts
    lag = f"{first_ms / 1000 - ready.ts:.3f} s" if first_ms is not None else "n/a"
    cpu_s = usage.cpu_s - ready.cpu_s
    _log(f"dbos: ready -> first workflow dequeued: {lag}; startup CPU {ready.cpu_s:.2f} s (excluded)")
    settings = (
        f"DBOS Transact {importlib.metadata.version('dbos')} on PostgreSQL {server_version} (fresh system "
        f"database); queue: DBOSClient.register_queue('{DBOS_QUEUE}', worker_concurrency={concurrency}, "
        f"polling_interval_sec={polling_interval_s}), no global concurrency, no rate limit; worker: "
        "separate process, DBOS(config={name, system_database_url, unique executor_id, log_level WARNING}) "
        "+ DBOS.launch(), other settings default (sys_db_pool_size 20, unbounded executor thread pool); "
        f"sync @DBOS.workflow of {STEPS} sync @DBOS.step "
        f"({'time.sleep(0.5) each, run in DBOS thread pool' if step_s else 'no-op'}), each step "
        "checkpointed; all workflows enqueued with DBOSClient.enqueue before the worker started; clock: "
        f"DBOS.launch() returned -> max(completed_at) (first workflow dequeued {lag} after ready); "
        f"worker CPU from /proc at completion minus {ready.cpu_s:.2f} s startup CPU; peak RSS = VmHWM of "
        "the worker process"
    )
    return _result(
        system="dbos",
        workload=workload,
        tasks=tasks,
        completed=int(succeeded or 0),
        wall_s=end_ts - ready.ts,
        cpu_s=cpu_s,
        peak_rss_mib=usage.peak_rss_mib,
        settings=settings,
        pool="threads",
        concurrency=concurrency,
    )


def dbos_worker(url: str, executor_id: str, max_lifetime_s: float) -> None:
    """The DBOS worker process: register the workflow, launch DBOS, serve the queue until SIGTERM.

    Args:
        url: The system database (already migrated, queue registered, workflows enqueued).
        executor_id: Unique per process: DBOS counts worker_concurrency per executor_id.
        max_lifetime_s: Exit after this long even without SIGTERM, so an orphan never lingers.
    """
    from dbos import DBOS, DBOSConfig

    # Sync workflow and steps, the form DBOS's docs lead with; a sync workflow runs in DBOS's thread pool,
    # like a Celery task in the threads pool, and time.sleep stands in for a blocking SDK call.
    @DBOS.step(name=DBOS_STEP)
    def llm_step(step_s: float) -> dict[str, Any]:
        return mock_llm_call(step_s)

    @DBOS.workflow(name=DBOS_WORKFLOW)
    def three_steps(step_s: float) -> int:
        for _ in range(STEPS):
            llm_step(step_s)
        return STEPS

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    config: DBOSConfig = {
        "name": DBOS_APP,
        "system_database_url": url,
        "executor_id": executor_id,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()
    ready_file = os.environ.get(READY_FILE_ENV)
    if ready_file:
        write_ready_file(ready_file)
    parent, deadline = os.getppid(), time.monotonic() + max_lifetime_s
    # Short waits: the signal handler runs between them, and a dead parent is noticed within 0.5 s.
    while not stop.wait(0.5):
        if os.getppid() != parent or time.monotonic() > deadline:
            break
    # Normally nothing is in flight by now. When the parent gave up early, let running workflows finish
    # for a few seconds rather than have each one log a traceback as the system database goes away.
    DBOS.destroy(workflow_completion_timeout_sec=DBOS_DRAIN_S)


# --- procrastinate ---------------------------------------------------------------------------------------


def run_procrastinate(
    workload: str, tasks: int, timeout_s: float, concurrency: int, pool_size: int
) -> dict[str, Any]:
    """N jobs through procrastinate: a fresh PostgreSQL database, one async worker process.

    The parent creates the database, applies procrastinate's schema and defers every job (in batches of
    1,000 with `batch_defer_async`), then starts the worker: `App.run_worker_async(concurrency=...)` in a
    child process, which fetches jobs one at a time (procrastinate's own loop) and runs them as coroutines.

    Args:
        workload: "realistic" or "overhead".
        tasks: How many jobs to run.
        timeout_s: Give up waiting for completions after this long.
        concurrency: The worker's `concurrency` (jobs run at once).
        pool_size: The psycopg connection pool of the worker (min = max).

    Returns:
        The result record (see the module docstring).

    Raises:
        ServiceUnavailable: PostgreSQL is not reachable.
    """
    import psycopg

    name = f"{PROCRASTINATE_DB_PREFIX}{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        raise ServiceUnavailable(f"PostgreSQL is not reachable at {PG_ADMIN}: {e}") from e
    try:
        server_version = str(admin.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        admin.execute(f'CREATE DATABASE "{name}"')
        _log(f"procrastinate: created database {name}")
        dsn = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
        return _run_procrastinate_on(
            dsn,
            server_version=server_version,
            workload=workload,
            tasks=tasks,
            timeout_s=timeout_s,
            concurrency=concurrency,
            pool_size=pool_size,
        )
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        _log(f"procrastinate: dropped database {name}")


def _run_procrastinate_on(
    dsn: str,
    *,
    server_version: str,
    workload: str,
    tasks: int,
    timeout_s: float,
    concurrency: int,
    pool_size: int,
) -> dict[str, Any]:
    import asyncio

    import psycopg

    from bench._procrastinate_app import make_app

    step_s = _step_s(workload)

    async def prepare() -> None:
        app = make_app(dsn, 2)
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            task = app.tasks[PROCRASTINATE_TASK]
            t = time.perf_counter()
            for start in range(0, tasks, 1000):
                batch: list[dict[str, Any]] = [{"step_s": step_s}] * min(1000, tasks - start)
                await task.batch_defer_async(*batch)
            _log(f"procrastinate: deferred {tasks} jobs in {time.perf_counter() - t:.2f} s")

    asyncio.run(prepare())
    count_sql = "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('succeeded', 'failed')"
    stamps_sql = (
        "SELECT (SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'), "
        "(SELECT min(at) FROM procrastinate_events WHERE type = 'started'), "
        "(SELECT max(at) FROM procrastinate_events WHERE type = 'succeeded')"
    )
    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=3)

    def finished() -> int:
        return int(conn.execute(count_sql).fetchone()[0])  # type: ignore[index]

    argv = [
        sys.executable, "-m", "bench.peers", PROCRASTINATE_WORKER_MODE,
        "--dsn", dsn, "--concurrency", str(concurrency), "--pool-size", str(pool_size),
    ]  # fmt: skip
    try:
        with WorkerProcess(argv, "procrastinate") as worker:
            ready = worker.wait_ready()
            _, seen_ts = wait_for_completions(finished, tasks, worker, timeout_s)
            usage = worker.usage()
            succeeded, first_start, last_done = conn.execute(stamps_sql).fetchone()  # type: ignore[misc]
    finally:
        conn.close()
    end_ts = last_done.timestamp() if last_done is not None else seen_ts
    lag = f"{first_start.timestamp() - ready.ts:.3f} s" if first_start is not None else "n/a"
    cpu_s = usage.cpu_s - ready.cpu_s
    _log(f"procrastinate: ready -> first job started: {lag}; startup CPU {ready.cpu_s:.2f} s (excluded)")
    settings = (
        f"procrastinate {importlib.metadata.version('procrastinate')} (psycopg "
        f"{importlib.metadata.version('psycopg')}) on PostgreSQL {server_version} (fresh database, "
        f"procrastinate's schema); worker: separate process, App.run_worker_async(concurrency={concurrency}, "
        f"queues=['{PROCRASTINATE_QUEUE}'], listen_notify=True), PsycopgConnector pool of {pool_size} "
        f"connections, other settings default (jobs kept, delete_jobs=never); async task of {STEPS} steps "
        f"({'await asyncio.sleep(0.5) each' if step_s else 'no-op'}), no step checkpointed, no result "
        "stored (the job's status and events only); all jobs deferred (batch_defer_async) before the worker "
        "started; clock: worker ready (app open) -> the last 'succeeded' event's timestamp (first job "
        f"started {lag} after ready); worker CPU from /proc at completion minus {ready.cpu_s:.2f} s startup "
        "CPU; peak RSS = VmHWM of the worker process"
    )
    return _result(
        system="procrastinate",
        workload=workload,
        tasks=tasks,
        completed=int(succeeded or 0),
        wall_s=end_ts - ready.ts,
        cpu_s=cpu_s,
        peak_rss_mib=usage.peak_rss_mib,
        settings=settings,
        pool="asyncio",
        concurrency=concurrency,
    )


def procrastinate_worker(dsn: str, concurrency: int, pool_size: int, max_lifetime_s: float) -> None:
    """The procrastinate worker process: open the app, run the worker until SIGTERM.

    Args:
        dsn: The database (schema applied, jobs deferred).
        concurrency: Jobs run at once.
        pool_size: Connections in the app's pool.
        max_lifetime_s: Exit after this long even without SIGTERM, so an orphan never lingers.
    """
    import asyncio
    import logging

    from bench._procrastinate_app import make_app

    logging.basicConfig(level=logging.WARNING)

    async def serve() -> None:
        app = make_app(dsn, pool_size)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        async with app.open_async():
            ready_file = os.environ.get(READY_FILE_ENV)
            if ready_file:
                write_ready_file(ready_file)
            work = asyncio.create_task(
                app.run_worker_async(
                    concurrency=concurrency,
                    queues=[PROCRASTINATE_QUEUE],
                    install_signal_handlers=False,
                    shutdown_graceful_timeout=DBOS_DRAIN_S,
                )
            )
            parent, deadline = os.getppid(), time.monotonic() + max_lifetime_s
            while not stop.is_set() and not work.done():
                if os.getppid() != parent or time.monotonic() > deadline:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work

    asyncio.run(serve())


# --- command line ----------------------------------------------------------------------------------------


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through the `finally` blocks: the worker is stopped and the database dropped.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run one system on one workload and print its JSON line.

    Args:
        argv: The arguments (default: sys.argv[1:]).

    Returns:
        The exit status: 0 all completed, 1 some did not, 2 a service is missing.
    """
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == [PROCRASTINATE_WORKER_MODE]:
        worker_parser = argparse.ArgumentParser(prog=f"python -m bench.peers {PROCRASTINATE_WORKER_MODE}")
        worker_parser.add_argument("--dsn", required=True)
        worker_parser.add_argument("--concurrency", type=int, required=True)
        worker_parser.add_argument("--pool-size", type=int, required=True)
        worker_parser.add_argument("--max-lifetime", type=float, default=3600.0)
        pargs = worker_parser.parse_args(args_list[1:])
        procrastinate_worker(pargs.dsn, pargs.concurrency, pargs.pool_size, pargs.max_lifetime)
        return 0
    if args_list[:1] == [DBOS_WORKER_MODE]:
        worker_parser = argparse.ArgumentParser(prog=f"python -m bench.peers {DBOS_WORKER_MODE}")
        worker_parser.add_argument("--db-url", required=True)
        worker_parser.add_argument("--executor-id", required=True)
        worker_parser.add_argument("--max-lifetime", type=float, default=3600.0)
        wargs = worker_parser.parse_args(args_list[1:])
        dbos_worker(wargs.db_url, wargs.executor_id, wargs.max_lifetime)
        return 0

    parser = argparse.ArgumentParser(
        prog="python -m bench.peers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("system", choices=["celery", "dbos", "procrastinate"])
    parser.add_argument("--workload", choices=["realistic", "overhead"], required=True)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="give up waiting for completions after this many seconds"
    )
    parser.add_argument(
        "--result-backend",
        action="store_true",
        help="celery only: store every task's result in Redis (db 12); reported as system celery+results",
    )
    parser.add_argument(
        "--dbos-polling-interval",
        type=float,
        default=DBOS_DEFAULT_POLLING_S,
        help="the DBOS queue's polling_interval_sec (default: DBOS's default, 1.0)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=CONCURRENCY,
        help="the worker's concurrency: Celery's pool size, DBOS's worker_concurrency, procrastinate's",
    )
    parser.add_argument(
        "--pool", choices=["threads", "gevent"], default="threads", help="celery only: the execution pool"
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=PROCRASTINATE_POOL,
        help="procrastinate only: connections in the worker's psycopg pool",
    )
    args = parser.parse_args(args_list)
    if args.tasks < 1:
        parser.error("--tasks must be at least 1")
    if args.result_backend and args.system != "celery":
        parser.error("--result-backend applies to celery only")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    try:
        if args.system == "celery":
            result = run_celery(
                args.workload,
                args.tasks,
                args.timeout,
                args.result_backend,
                pool=args.pool,
                concurrency=args.concurrency,
            )
        elif args.system == "dbos":
            result = run_dbos(
                args.workload, args.tasks, args.timeout, args.dbos_polling_interval, args.concurrency
            )
        else:
            result = run_procrastinate(
                args.workload, args.tasks, args.timeout, args.concurrency, args.pool_size
            )
    except ServiceUnavailable as e:
        _log(f"error: {e}")
        return 2
    # The one line on stdout. Written, not print()ed: bench/** already waives T20, so a `noqa: T201`
    # here would itself be flagged as unused (RUF100).
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result["completed"] == args.tasks else 1


if __name__ == "__main__":
    sys.exit(main())
