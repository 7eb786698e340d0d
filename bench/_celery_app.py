"""The Celery app that `bench.peers` runs its Celery worker on (``celery -A bench._celery_app worker``).

It is its own module because the worker process imports the app by name; the parent process imports it
too, to enqueue. Broker: Redis db 13 (``BENCH_REDIS`` overrides it). No result backend, unless the
worker's environment names one in ``BENCH_PEERS_RESULT_BACKEND`` (``bench.peers ... --result-backend``
sets it for the worker only): then ``task_ignore_result=False`` and the worker stores each task's return
value, the list of its 3 step results. Each task runs the shared 3-step mock workload, then INCRs a Redis
counter the parent polls, so completions are counted outside the worker.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import redis
from celery import Celery  # type: ignore[import-untyped]
from celery.signals import worker_ready  # type: ignore[import-untyped]

from bench.peers import (
    CELERY_DONE_KEY,
    CELERY_FIRST_START_KEY,
    CELERY_QUEUE,
    COUNTER_KEY,
    READY_FILE_ENV,
    REDIS_URL,
    RESULT_BACKEND_ENV,
    STEPS,
    mock_llm_call,
    write_ready_file,
)

MAX_REDIS_CONNECTIONS = 10_000  # Redis's own default maxclients

# Set in the worker's environment only: the enqueuing parent sends ignore_result=False itself.
_result_backend = os.environ.get(RESULT_BACKEND_ENV) or None
app = Celery("bench_peers", broker=REDIS_URL, backend=_result_backend)
app.conf.update(
    # By default nothing reads results: a backend would only add a Redis write per task that the peer does
    # not need. With --result-backend every task's outcome is persisted, as a durable engine does.
    task_ignore_result=_result_backend is None,
    task_default_queue=CELERY_QUEUE,
    broker_connection_retry_on_startup=True,
    # The result backend's connection pool: redis-py caps a pool at 100 connections unless told otherwise,
    # and a pool of 1,000 threads or greenlets storing results at once would fail the tasks over the cap.
    redis_max_connections=MAX_REDIS_CONNECTIONS,
    # Celery's own defaults otherwise (prefetch multiplier 4, early ack): the peer as people run it.
)

# One client (and connection pool) per process, shared by the pool's threads: redis-py is thread-safe. Up to
# one connection per thread or greenlet counting a completion at the same moment (redis-py's default cap of
# 100 would fail the tasks of a bigger pool).
_redis = redis.Redis.from_url(REDIS_URL, max_connections=MAX_REDIS_CONNECTIONS)
_first_start = threading.Event()


@app.task(name="bench.peers.three_steps")  # type: ignore[untyped-decorator]
def three_steps(step_s: float, target: int) -> list[dict[str, Any]]:
    """Run the 3 mock LLM steps, then count the task as done.

    Args:
        step_s: How long each step sleeps (0 for the overhead workload).
        target: How many tasks the run expects; the task that completes it stamps the finish time.

    Returns:
        The 3 step results: stored by the result backend if there is one, discarded otherwise.
    """
    if not _first_start.is_set():
        # Once per process, not per task: an extra Redis write per task would be harness cost, not Celery's.
        _first_start.set()
        _redis.set(CELERY_FIRST_START_KEY, repr(time.time()), nx=True)
    steps = [mock_llm_call(step_s) for _ in range(STEPS)]
    finished = time.time()
    if _redis.incr(COUNTER_KEY) >= target:
        # The task that brings the counter to N is the last to finish, so its clock is the run's end; the
        # parent's 100 ms polling would otherwise add up to 100 ms to every run.
        _redis.set(CELERY_DONE_KEY, repr(finished))
    return steps


@worker_ready.connect  # type: ignore[untyped-decorator]
def _on_worker_ready(**_: Any) -> None:
    """Tell the parent the worker is consuming: when, and how much CPU its startup took."""
    # Celery sends worker_ready once every consumer bootstep (basic_consume included) has started.
    path = os.environ.get(READY_FILE_ENV)
    if path:
        write_ready_file(path)
