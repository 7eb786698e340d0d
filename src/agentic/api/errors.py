"""One mapping from errors to HTTP responses, installed on the app once.

Every 4xx/5xx leaves the API as `{"error": {"code", "message", "details"}}`; a 500 never carries a trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentic.errors import AgenticError
from agentic.logging import get_logger

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


async def _unhandled_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
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
