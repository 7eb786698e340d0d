"""W3C Trace Context: the `traceparent` a task keeps so every attempt's log lines link back to the API call.

Only the header's format is handled here (a regular expression and random IDs); exporting spans is the
OpenTelemetry SDK's job when tracing is switched on (plan §14).
"""

from __future__ import annotations

import re
import secrets

_TRACEPARENT = re.compile(
    r"^(?P<version>[0-9a-f]{2})-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-[0-9a-f]{2}$"
)


def parse_traceparent(value: str | None) -> str | None:
    """The header if it is a valid W3C `traceparent`, else None (the spec says to ignore invalid ones)."""
    if not value:
        return None
    value = value.strip().lower()
    match = _TRACEPARENT.match(value)
    if (
        match is None
        or match["version"] == "ff"
        or set(match["trace"]) == {"0"}
        or set(match["span"]) == {"0"}
    ):
        return None
    return value


def new_traceparent() -> str:
    """A fresh, sampled `traceparent` for a request that arrived without one."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def trace_id(traceparent: str | None) -> str | None:
    """The trace ID inside a `traceparent` (what log search and tracing backends index)."""
    return traceparent.split("-")[1] if traceparent else None
