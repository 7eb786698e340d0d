"""Liveness, readiness and metrics (outside `/v1`: they are for orchestrators and scrapers)."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agentic.api.deps import ResourcesDep
from agentic.api.security import PUBLIC
from agentic.config import Environment, Settings
from agentic.engine.store import QueueStats, queue_stats
from agentic.errors import PermissionDenied, Unauthenticated
from agentic.logging import get_logger
from agentic.metrics import DEPENDENCY_UP, EXPIRED_LEASES, OLDEST_QUEUED_AGE, TASKS_BY_STATE
from agentic.resources import Resources
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
    summary="Readiness: the database reachable and migrated (Redis, when configured, reported as degraded)",
    responses=error_responses(503),
)
async def readyz(resources: ResourcesDep) -> Readiness | JSONResponse:
    """200 while the database answers, `degraded` if Redis does not; 503 with the checks otherwise.

    Redis carries only signals (wake-ups, cancellations, live event streams) and shared rate-limit counters:
    without it workers poll and limits are kept per process, so the instance still serves. Reporting it as
    unready would make a load balancer take every replica out at once for a dependency the API can do
    without; it is reported as `degraded` here and as `agentic_dependency_up{dependency="redis"} 0`.
    """
    db, redis = await asyncio.gather(resources.check_database(), resources.check_redis())
    checks = {"database": Check(status=db.status, latency_ms=db.latency_ms, error=db.error)}
    if redis is not None:
        checks["redis"] = Check(
            status="ok" if redis.status == "ok" else "degraded",
            latency_ms=redis.latency_ms,
            error=redis.error,
        )
    if checks["database"].status == "ok":
        degraded = any(check.status != "ok" for check in checks.values())
        return Readiness(status="degraded" if degraded else "ok", checks=checks)
    return JSONResponse(
        {
            "error": {
                "code": "not_ready",
                "message": "Not ready: database.",
                "details": {"checks": {name: check.model_dump() for name, check in checks.items()}},
            }
        },
        status_code=503,
    )


def _check_scraper(request: Request, settings: Settings) -> None:
    """`AGENTIC_SERVER_METRICS_TOKEN` as a bearer token; in production there must be one.

    Metrics name routes, queue depths and error rates: in production they are not for anyone who can reach
    the port.
    """
    token = settings.server.metrics_token
    if token is None:
        if settings.env is Environment.PRODUCTION:
            raise PermissionDenied(
                "Metrics need a token in production: set AGENTIC_SERVER_METRICS_TOKEN and scrape with it "
                "as a bearer token.",
                code="metrics_token_required",
            )
        return
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.get_secret_value().encode()
    ):
        raise Unauthenticated("Scrape /metrics with `Authorization: Bearer <AGENTIC_SERVER_METRICS_TOKEN>`.")


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response, responses=error_responses(401, 403)
)
async def metrics(request: Request, resources: ResourcesDep) -> Response:
    """The process's metrics in the Prometheus text format, with queue health read from the database.

    Queue gauges come from the database at scrape time, so every API replica reports the same truth; the
    dependency gauges (`agentic_dependency_up`) are refreshed at the same time, so a scrape shows them
    without anyone probing /readyz. With `AGENTIC_SERVER_METRICS_TOKEN` set (required in production), a
    scrape must send it as a bearer token.
    """
    _check_scraper(request, resources.settings)
    stats, _redis = await asyncio.gather(_queue_stats(resources), resources.check_redis())
    DEPENDENCY_UP.labels(dependency="database").set(0 if stats is None else 1)
    if stats is not None:
        for state, count in stats.by_state.items():
            TASKS_BY_STATE.labels(state=state).set(count)
        OLDEST_QUEUED_AGE.set(stats.oldest_queued_age_s)
        EXPIRED_LEASES.set(stats.expired_leases)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _queue_stats(resources: Resources) -> QueueStats | None:
    try:
        async with asyncio.timeout(2), resources.sessions() as session:
            return await queue_stats(session)
    except Exception:  # a slow or absent database must not break the scrape
        log.warning("metrics.queue_stats_unavailable")
        return None
