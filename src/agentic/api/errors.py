"""One mapping from errors to HTTP responses, installed on the app once.

Every 4xx/5xx leaves the API as `{"error": {"code", "message", "details"}}`; a 500 never carries a trace.
A passing database fault (a dropped connection, an unreachable server, a full pool) is a 503
`database_unavailable` with `Retry-After`, never a 500 (`DatabaseErrorMiddleware` decides when to retry
first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentic.db.engine import DatabaseFault, database_fault
from agentic.errors import AgenticError
from agentic.logging import get_logger
from agentic.metrics import DATABASE_FAULTS

log = get_logger("agentic.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


# Seconds a client should wait before trying again, by fault: a dropped connection is replaced at once; a
# full pool or a held lock frees up within seconds; a server that refuses connections is restarting.
RETRY_AFTER_S: dict[DatabaseFault, int] = {
    DatabaseFault.DISCONNECTED: 1,
    DatabaseFault.SATURATED: 2,
    DatabaseFault.UNREACHABLE: 5,
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Build an error-envelope response."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status, headers=headers
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Drop `input` and `ctx`: they echo what the caller sent (possibly a password) into responses and logs.
    return [
        {"loc": list(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


async def _agentic_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AgenticError)  # noqa: S101  # registered for this class only
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    details = _validation_details(exc)
    if any(item["type"] == "json_invalid" for item in details):
        return error_response(400, "malformed_json", "The request body is not valid JSON.", details)
    return error_response(422, "validation_error", "The request is invalid; see details.", details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404:
        message = f"No resource at {request.method} {request.url.path}."
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    elif exc.status_code == 413:
        max_bytes = request.app.state.max_body_bytes
        message = f"Request body exceeds the limit of {max_bytes} bytes."
        return error_response(413, code, message, {"max_bytes": max_bytes})
    else:
        message = str(exc.detail)
    return error_response(exc.status_code, code, message, None, headers=exc.headers)


def database_unavailable(fault: DatabaseFault, request_id: str | None) -> JSONResponse:
    """The 503 answering a request that met a passing database fault.

    Args:
        fault: What happened to the database.
        request_id: The request's ID, to quote in a report.

    Returns:
        `503 database_unavailable` with `Retry-After`.
    """
    retry_after = RETRY_AFTER_S[fault]
    return error_response(
        503,
        "database_unavailable",
        f"The database is unavailable for a moment ({fault}). Try again in {retry_after} s; a request that "
        "changes something may have taken effect: repeat it with the same Idempotency-Key where supported.",
        {"fault": str(fault), "retry_after_s": retry_after, "request_id": request_id},
        headers={"Retry-After": str(retry_after)},
    )


def describe(exc: BaseException) -> str:
    """`Type: message`, first line only and short: enough for a log line, never a trace or a statement."""
    first_line = str(exc).split("\n", 1)[0]
    return f"{type(exc).__name__}: {first_line}"[:300]


async def _unhandled_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    fault = database_fault(exc)
    if fault is not None:
        # Only reaches here once the response had started (DatabaseErrorMiddleware answers the others): the
        # client sees the response cut short. A passing fault, not a bug: no trace.
        DATABASE_FAULTS.labels(fault=fault, outcome="lost").inc()
        log.warning("http.database_lost", path=request.url.path, fault=str(fault), error=describe(exc))
        return database_unavailable(fault, request_id)
    log.exception("http.unhandled_error", path=request.url.path, request_id=request_id)
    return error_response(
        500,
        "internal_error",
        "An unexpected error occurred. Quote the request ID when reporting it.",
        {"request_id": request_id},
        headers={"x-request-id": request_id} if request_id else None,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(AgenticError, _agentic_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled_error)
