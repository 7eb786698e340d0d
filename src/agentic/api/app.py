"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from agentic import __version__
from agentic.api.errors import install_error_handlers
from agentic.api.middleware import (
    BodySizeLimitMiddleware,
    DatabaseErrorMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from agentic.api.routes import (
    agents,
    api_keys,
    approvals,
    audit,
    auth,
    connections,
    health,
    llm,
    me,
    orgs,
    schedules,
    setup,
    system,
    tasks,
    usage,
    webhooks,
)
from agentic.api.security import declared_permission
from agentic.config import Environment, Settings, get_settings
from agentic.engine.worker import engine_source
from agentic.logging import configure_logging, get_logger
from agentic.resources import Resources
from agentic.services.event_feeds import EventFeeds
from agentic.services.first_run import run_first_start
from agentic.ui import STATIC_DIR, SPAStaticFiles, not_built_response, ui_built
from agentic.workers.runtime import WorkerRuntime

log = get_logger("agentic.app")

# Every router of the API. The route-table test walks these: each route must declare exactly one permission.
ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    system.router,
    setup.router,
    auth.router,
    me.router,
    orgs.router,
    api_keys.router,
    audit.router,
    llm.router,
    agents.router,
    tasks.router,
    schedules.router,
    approvals.router,
    webhooks.router,
    connections.router,
    usage.router,
)


def _publish_permissions(router: APIRouter) -> None:
    # Document each operation's permission in OpenAPI (`x-permission`), derived from the dependency that
    # enforces it, so the published contract cannot drift from the enforcement.
    for route in router.routes:
        if isinstance(route, APIRoute):
            declared = declared_permission(route.dependant)
            if len(declared) == 1:
                route.openapi_extra = {**(route.openapi_extra or {}), "x-permission": declared[0]}


def create_app(settings: Settings, *, run_workers: bool | None = None) -> FastAPI:
    """Build the application.

    Args:
        settings: Platform settings.
        run_workers: Run task workers in this process (default: `settings.worker.in_process`).

    Returns:
        The ASGI app; its lifespan opens the database/Redis handles and starts the in-process workers.
    """
    with_workers = settings.worker.in_process if run_workers is None else run_workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resources = Resources.open(settings)
        app.state.resources = resources
        app.state.event_feeds = feeds = EventFeeds(resources.sessions, resources.signals)
        runtime: WorkerRuntime | None = None
        try:
            resources.start()
            await run_first_start(resources)
            if with_workers:
                runtime = WorkerRuntime(settings.worker, source=engine_source(resources))
                runtime.start()
            app.state.worker_runtime = runtime
            yield
        finally:
            if runtime is not None:
                await runtime.stop()
            await feeds.aclose()
            await resources.close()

    app = FastAPI(
        title="Agentic API",
        version=__version__,
        summary="Build, run and watch LLM agents as durable tasks.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.max_body_bytes = settings.server.max_body_bytes
    install_error_handlers(app)
    # Added first = innermost: a safe request retried after a dropped database connection stays one request
    # (one ID, one access-log line), and its replayed body was already held to the size limit.
    app.add_middleware(DatabaseErrorMiddleware)
    # Added last = outermost: every response, including early refusals, carries the request ID.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.server.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    # Outermost: every response, including the request-context middleware's own refusals, carries them.
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.env is Environment.PRODUCTION)

    for router in ROUTERS:
        _publish_permissions(router)
        app.include_router(router)

    if settings.server.ui_enabled and ui_built():
        app.mount("/", SPAStaticFiles(directory=STATIC_DIR, html=True), name="ui")
    elif settings.server.ui_enabled:
        app.add_api_route("/", not_built_response, include_in_schema=False)
    return app


def app_factory() -> FastAPI:
    """Entry point for `uvicorn --factory agentic.api.app:app_factory`: settings from the environment."""
    settings = get_settings()
    configure_logging(settings.log, settings.env)
    return create_app(settings)
