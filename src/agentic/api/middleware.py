"""Plain ASGI middleware.

Not `BaseHTTPMiddleware`: it buffers, interferes with streaming and costs a task per request.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentic.logging import get_logger
from agentic.metrics import HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "x-request-id"
# Accept a caller's request ID only if it is short and harmless in logs and headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_UNMATCHED_ROUTE = "unmatched"

log = get_logger("agentic.http")


def error_body(code: str, message: str, details: object = None) -> bytes:
    """Serialise the error envelope `{"error": {"code", "message", "details"}}`."""
    return json.dumps({"error": {"code": code, "message": message, "details": details}}).encode()


async def send_error(send: Send, status: int, code: str, message: str, details: object = None) -> None:
    """Send a complete JSON error response from middleware (before the app has started responding)."""
    body = error_body(code, message, details)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    """Request ID, structured access log and HTTP metrics.

    Accepts `X-Request-ID` from the caller (when well-formed) or generates one, binds it into the logging
    context for every line of the request, echoes it back, then logs one access line and records metrics by
    route template (never the raw path: IDs in paths would explode metric cardinality).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        HTTP_IN_FLIGHT.inc()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                HTTP_IN_FLIGHT.dec()
                elapsed = time.perf_counter() - start
                route = scope.get("route")
                template = getattr(route, "path", None) or _UNMATCHED_ROUTE
                method = scope["method"]
                HTTP_REQUESTS.labels(method=method, route=template, status=str(status)).inc()
                HTTP_LATENCY.labels(method=method, route=template).observe(elapsed)
                log.info(
                    "http.request",
                    method=method,
                    path=scope["path"],
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                    client=scope["client"][0] if scope.get("client") else None,
                )


class BodySizeLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, whether or not `Content-Length` is sent.

    A declared length over the limit is refused before anything reads the body. A streamed (chunked) body is
    counted as it arrives; crossing the limit raises `HTTPException(413)` inside the app, which FastAPI
    re-raises from body parsing so the app's error handler answers with the envelope. Nothing is buffered
    beyond the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and not declared.isdigit():
            await send_error(send, 400, "invalid_content_length", "Content-Length must be a whole number.")
            return
        if declared is not None and int(declared) > self.max_bytes:
            await self._refuse(send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, "Request body too large.")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except HTTPException as exc:
            # Raised where no handler could catch it (e.g. a body read outside a route): answer here.
            if exc.status_code != 413 or started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await send_error(
            send,
            413,
            "payload_too_large",
            f"Request body exceeds the limit of {self.max_bytes} bytes.",
            {"max_bytes": self.max_bytes},
        )
