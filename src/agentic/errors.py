"""Domain errors. Services raise these; the API maps them to HTTP in one place (`agentic.api.errors`)."""

from __future__ import annotations

from typing import Any, ClassVar


class AgenticError(Exception):
    """Base of every error the platform reports to a client.

    Attributes:
        code: Stable machine-readable code (snake_case), part of the API contract.
        status_code: HTTP status used when the error crosses the API.
        message: Human-readable explanation, safe to show to the caller.
        details: Optional structured data (e.g. which field); never secrets.
    """

    code: ClassVar[str] = "error"
    status_code: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance-level override of the class default


class InvalidInput(AgenticError):
    """The request is well-formed but its content is not acceptable."""

    code = "invalid_input"
    status_code = 422


class Unauthenticated(AgenticError):
    """No valid credentials."""

    code = "unauthenticated"
    status_code = 401


class PermissionDenied(AgenticError):
    """Authenticated, but not allowed."""

    code = "permission_denied"
    status_code = 403


class NotFound(AgenticError):
    """The resource does not exist (or belongs to another tenant: we do not reveal which)."""

    code = "not_found"
    status_code = 404


class Conflict(AgenticError):
    """The request conflicts with the current state."""

    code = "conflict"
    status_code = 409


class ServiceUnavailable(AgenticError):
    """A dependency (database, Redis) is not reachable."""

    code = "service_unavailable"
    status_code = 503


class ConfigurationError(RuntimeError):
    """The platform cannot start with its settings (not an API error: it stops start-up)."""
