"""Liveness, readiness and metrics (outside `/v1`: they are for orchestrators and scrapers)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agentic.api.deps import ResourcesDep
from agentic.api.security import PUBLIC
from agentic.engine.store import queue_stats
from agentic.logging import get_logger
from agentic.metrics import EXPIRED_LEASES, OLDEST_QUEUED_AGE, TASKS_BY_STATE
from agentic.schemas.common import error_responses
from agentic.schemas.system import Check, Liveness, Readiness

router = APIRouter(tags=["operations"], dependencies=[PUBLIC])
log = get_logger("agentic.api")


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> Liveness:
    """Answers without touching any dependency, so a slow database never gets the process restarted."""
    return Liveness()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: database (and Redis when configured) reachable and migrated",
    responses=error_responses(503),
)
async def readyz(resources: ResourcesDep) -> Readiness | JSONResponse:
    """200 when every dependency answers; 503 with the failing checks otherwise."""
    db, redis = await asyncio.gather(resources.check_database(), resources.check_redis())
    checks = {"database": Check(status=db.status, latency_ms=db.latency_ms, error=db.error)}
    if redis is not None:
        checks["redis"] = Check(status=redis.status, latency_ms=redis.latency_ms, error=redis.error)
    if all(check.status == "ok" for check in checks.values()):
        return Readiness(checks=checks)
    failing = ", ".join(name for name, check in checks.items() if check.status != "ok")
    return JSONResponse(
        {
            "error": {
                "code": "not_ready",
                "message": f"Not ready: {failing}.",
                "details": {"checks": {name: check.model_dump() for name, check in checks.items()}},
            }
        },
        status_code=503,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(resources: ResourcesDep) -> Response:
    """The process's metrics in the Prometheus text format, with queue health read from the database.

    Queue gauges come from the database at scrape time, so every API replica reports the same truth.
    """
    try:
        async with asyncio.timeout(2), resources.sessions() as session:
            stats = await queue_stats(session)
    except Exception:  # a slow or absent database must not break the scrape
        log.warning("metrics.queue_stats_unavailable")
    else:
        for state, count in stats.by_state.items():
            TASKS_BY_STATE.labels(state=state).set(count)
        OLDEST_QUEUED_AGE.set(stats.oldest_queued_age_s)
        EXPIRED_LEASES.set(stats.expired_leases)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
