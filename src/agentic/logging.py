"""Structured logging with structlog.

Every line carries the request ID bound by the request-context middleware (via contextvars), so all lines of
one request — including those from libraries that use the standard `logging` module — can be correlated.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from agentic.config import Environment, LogSettings

# Keys whose values must never reach a log line, whatever logs them.
_SECRET_KEYS = frozenset(
    {"password", "secret", "secret_key", "token", "api_key", "authorization", "cookie", "key", "setup_token"}
)


def _redact_secrets(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    for key in event_dict.keys() & _SECRET_KEYS:
        event_dict[key] = "[redacted]"
    return event_dict


def _use_json(settings: LogSettings, env: Environment) -> bool:
    if settings.format == "json":
        return True
    if settings.format == "console":
        return False
    return not (env is Environment.DEV and sys.stderr.isatty())


def configure_logging(settings: LogSettings, env: Environment) -> None:
    """Configure structlog and route standard-library logging through the same renderer.

    Args:
        settings: Level and format.
        env: In dev on a terminal the `auto` format is human-readable; everywhere else JSON.
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_secrets,
    ]
    renderer: Any
    if _use_json(settings, env):
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # Our middleware writes the access log with the request ID; uvicorn's own would be a duplicate.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers[:] = []
        uv.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic narrates every context it opens (readiness probes open one); the CLI shows progress instead.
    logging.getLogger("alembic").setLevel(logging.DEBUG if settings.level == "DEBUG" else logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A named structured logger."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
