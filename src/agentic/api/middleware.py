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

from agentic.api.errors import database_unavailable, describe
from agentic.db.engine import DatabaseFault, database_fault
from agentic.logging import get_logger
from agentic.metrics import DATABASE_FAULTS, HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "x-request-id"
# Accept a caller's request ID only if it is short and harmless in logs and headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_UNMATCHED_ROUTE = "unmatched"
# Methods that change nothing (RFC 9110 §9.2.1): running one twice is harmless, so one that met a dropped
# database connection may run again. Any other request may have committed before the connection dropped.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

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


class DatabaseErrorMiddleware:
    """Answer passing database faults with `503 database_unavailable` and `Retry-After`, never a 500.

    A safe request (GET, HEAD, OPTIONS) that lost its database connection runs once more first, on a fresh
    connection (the pool dropped the dead one and every older one when the fault was raised). Only while
    nothing has been sent: the client then sees one answer, as if nothing had happened. Its request body, if
    any, is replayed from what the first run read (bounded by the body-size limit, which wraps this
    middleware). A request that may have changed something is never run twice: it may have committed just
    before the connection dropped, so the client decides (with an Idempotency-Key where the API takes one).

    Other faults are not retried here: an unreachable server would make the client wait twice for nothing,
    and a full pool or a held lock has already made it wait. Once the response has started, nothing can be
    taken back: the error goes on to the server, which cuts the response short. Once it has been sent whole,
    a fault in the clean-up after it (closing the request's session) concerns nobody: it is logged only.

    Install it innermost (added first), inside the request-context middleware, so that a retried request
    keeps one request ID, one access-log line and one metrics sample.
    """

    def __init__(self, app: ASGIApp, *, retries: int = 1) -> None:
        self.app = app
        self.retries = retries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        safe = scope["method"] in SAFE_METHODS
        replay = _Replay(receive) if safe else None
        attempt = 0
        while True:
            attempt += 1
            started = completed = False

            async def tracking_send(message: Message) -> None:
                nonlocal started, completed
                if message["type"] == "http.response.start":
                    started = True
                elif message["type"] == "http.response.body" and not message.get("more_body", False):
                    completed = True
                await send(message)

            # Each run gets its own copy of the scope (the router writes the matched route into it); the
            # request's state (its ID) is shared.
            attempt_scope = dict(scope)
            try:
                await self.app(attempt_scope, replay.receive() if replay else receive, tracking_send)
                return
            except Exception as exc:
                fault = database_fault(exc)
                if fault is None or (started and not completed):
                    raise
                error = exc
            finally:
                scope.update(attempt_scope)
            if completed:
                # The response went out whole; what failed is the clean-up after it (closing the request's
                # session rolls back on a connection that has just died). The client has its answer, and
                # raising would only make the server drop a healthy keep-alive connection.
                DATABASE_FAULTS.labels(fault=fault, outcome="after_response").inc()
                log.info("http.database_fault_after_response", path=scope["path"], error=describe(error))
                return
            if (
                replay is not None
                and fault is DatabaseFault.DISCONNECTED
                and attempt <= self.retries
                and not replay.disconnected
            ):
                DATABASE_FAULTS.labels(fault=fault, outcome="retried").inc()
                log.info("http.database_retried", path=scope["path"], fault=str(fault), error=describe(error))
                continue
            DATABASE_FAULTS.labels(fault=fault, outcome="unavailable").inc()
            log.warning(
                "http.database_unavailable", path=scope["path"], fault=str(fault), error=describe(error)
            )
            request_id = scope.get("state", {}).get("request_id")
            await database_unavailable(fault, request_id)(scope, receive, send)
            return


class _Replay:
    """The request's messages as the app read them, so that a second run reads the same ones."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._messages: list[Message] = []

    @property
    def disconnected(self) -> bool:
        """True once the client has gone (no point running the request again)."""
        return any(message["type"] == "http.disconnect" for message in self._messages)

    def receive(self) -> Receive:
        """A `receive` for one run: what earlier runs read, in order, then the client's next messages."""
        position = 0

        async def receive() -> Message:
            nonlocal position
            if position < len(self._messages):
                message = self._messages[position]
            else:
                message = await self._receive()
                self._messages.append(message)
            position += 1
            return message

        return receive


# The console is a single-page app served from this origin: its scripts, styles and fonts come from here, and
# it talks to this API only. MUI's CSS-in-JS inserts <style> elements at run time, hence 'unsafe-inline' for
# styles (not scripts). JSON responses get the same policy; it costs nothing where nothing is rendered.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# FastAPI's Swagger UI (`/docs`) loads its script and style from jsDelivr and starts with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeadersMiddleware:
    """Security headers on every HTTP response: CSP, no sniffing, no referrer, no framing; HSTS in production.

    Headers a route set itself are kept (a download's own `X-Content-Type-Options`, for one).
    """

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"] == "/docs" else CONSOLE_CSP
        extra = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if self.hsts:
            extra.append((b"strict-transport-security", HSTS.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
