import asyncio

from agentic.config import WorkerSettings
from agentic.workers.runtime import Job, WorkerRuntime


class ListSource:
    """Hands out a fixed number of jobs, respecting the limit it is given."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.limits: list[int] = []

    async def claim(self, *, worker_id: str, limit: int) -> list[Job]:
        self.limits.append(limit)
        taken, self.jobs = self.jobs[:limit], self.jobs[limit:]
        return taken


async def test_runs_jobs_with_bounded_concurrency() -> None:
    running = 0
    peak = 0
    done = 0

    async def job() -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        done += 1

    source = ListSource([job for _ in range(20)])
    runtime = WorkerRuntime(WorkerSettings(concurrency=4, poll_interval_s=0.01), source=source)
    runtime.start()
    for _ in range(200):
        if done == 20:
            break
        await asyncio.sleep(0.01)
    await runtime.stop()
    assert done == 20
    assert peak == 4
    assert max(source.limits) <= 4


async def test_stop_waits_for_running_jobs_within_grace() -> None:
    finished = asyncio.Event()

    async def job() -> None:
        await asyncio.sleep(0.1)
        finished.set()

    runtime = WorkerRuntime(
        WorkerSettings(concurrency=2, poll_interval_s=0.01, shutdown_grace_s=5), source=ListSource([job])
    )
    runtime.start()
    await asyncio.sleep(0.03)
    assert runtime.in_flight == 1
    await runtime.stop()
    assert finished.is_set()


async def test_stop_cancels_jobs_that_outlive_the_grace_period() -> None:
    cancelled = asyncio.Event()

    async def job() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runtime = WorkerRuntime(
        WorkerSettings(concurrency=2, poll_interval_s=0.01, shutdown_grace_s=0.1), source=ListSource([job])
    )
    runtime.start()
    await asyncio.sleep(0.03)
    await asyncio.wait_for(runtime.stop(), timeout=5)
    assert cancelled.is_set()


async def test_a_crashing_job_does_not_stop_the_loop() -> None:
    ran: list[str] = []

    async def bad() -> None:
        raise RuntimeError("boom")

    async def good() -> None:
        ran.append("good")

    runtime = WorkerRuntime(
        WorkerSettings(concurrency=1, poll_interval_s=0.01), source=ListSource([bad, good])
    )
    runtime.start()
    for _ in range(100):
        if ran:
            break
        await asyncio.sleep(0.01)
    await runtime.stop()
    assert ran == ["good"]


async def test_worker_ids_are_unique() -> None:
    settings = WorkerSettings()
    assert WorkerRuntime(settings).worker_id != WorkerRuntime(settings).worker_id
