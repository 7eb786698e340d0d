"""Authentication and authorisation for routes: who is calling, in which organisation, allowed to do what.

Every route declares exactly one of `PUBLIC`, `AUTHENTICATED` or `require(Permission.X)`; a test walks the
route table and fails on a route that declares none. The dependency that resolves the organisation also binds
the request's database session to it, which scopes every query (see `agentic.db.tenancy`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from sqlalchemy import select

from agentic.api.deps import SessionDep, app_resources
from agentic.db.models import Membership, Role, User
from agentic.db.tenancy import bind_session_to_org
from agentic.errors import NotFound, PermissionDenied, Unauthenticated
from agentic.security.permissions import ROLE_PERMISSIONS, Permission, key_permissions
from agentic.security.tokens import API_KEY_PREFIX
from agentic.services.audit import Actor
from agentic.services.auth import KeyIdentity, RequestMeta, authenticate_access_token, authenticate_api_key

SESSION_COOKIE = "agentic_session"
REFRESH_COOKIE = "agentic_refresh"
CSRF_COOKIE = "agentic_csrf"
CSRF_HEADER = "x-csrf-token"
ORG_HEADER = "x-org-id"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The attribute a permission dependency carries, read by the route-table test and the OpenAPI extension.
PERMISSION_MARKER = "__agentic_permission__"


async def request_meta(request: Request) -> RequestMeta:
    """Caller address, user agent and request ID, for throttling and auditing."""
    return _meta(request)


def _meta(request: Request) -> RequestMeta:
    request_id = getattr(request.state, "request_id", None)
    return RequestMeta(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=request_id if isinstance(request_id, str) else None,
    )


MetaDep = Annotated[RequestMeta, Depends(request_meta)]


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller, before an organisation is chosen."""

    user: User
    via: Literal["bearer", "cookie", "api_key"]
    session_id: uuid.UUID | None = None
    key: KeyIdentity | None = None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use `Authorization: Bearer <token or API key>`.")
    return token.strip()


async def get_caller(request: Request, session: SessionDep) -> Caller:
    """Authenticate by bearer token, API key or session cookie (cookie + unsafe method needs the CSRF header).

    Raises:
        Unauthenticated: No or invalid credentials (401).
        PermissionDenied: Cookie request without a valid CSRF token (403 `csrf_failed`).
    """
    resources = app_resources(request)
    token = _bearer(request)
    if token is not None:
        if token.startswith(API_KEY_PREFIX):
            identity = await authenticate_api_key(session, resources=resources, key=token)
            return Caller(user=identity.user, via="api_key", key=identity)
        found = await authenticate_access_token(session, resources=resources, token=token)
        return Caller(user=found.user, via="bearer", session_id=found.session_id)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = await authenticate_access_token(session, resources=resources, token=cookie)
        if request.method not in SAFE_METHODS and not resources.hasher.csrf_valid(
            str(found.session_id), request.headers.get(CSRF_HEADER)
        ):
            raise PermissionDenied(
                f"Missing or wrong CSRF token: send the `{CSRF_COOKIE}` cookie's value in `X-CSRF-Token`.",
                code="csrf_failed",
            )
        return Caller(user=found.user, via="cookie", session_id=found.session_id)
    raise Unauthenticated("Sign in, or send an API key as `Authorization: Bearer agk_…`.")


CallerDep = Annotated[Caller, Depends(get_caller)]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller acting in one organisation with a role and the permissions it grants."""

    user: User
    org_id: uuid.UUID
    role: Role
    permissions: frozenset[Permission]
    via: Literal["bearer", "cookie", "api_key"]
    meta: RequestMeta
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None

    @property
    def user_id(self) -> uuid.UUID:
        """The acting user (for a key: its creator)."""
        return self.user.id

    def can(self, permission: Permission) -> bool:
        """True if the principal holds `permission`."""
        return permission in self.permissions

    def actor(self) -> Actor:
        """The principal as recorded in the audit log."""
        return Actor(
            user_id=self.user.id,
            org_id=self.org_id,
            api_key_id=self.api_key_id,
            ip=self.meta.ip,
            user_agent=self.meta.user_agent,
            request_id=self.meta.request_id,
        )


def _requested_org(request: Request) -> uuid.UUID | None:
    raw = request.path_params.get("org_id") or request.headers.get(ORG_HEADER)
    if raw is None:
        return None
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound("Organisation not found.") from None


async def get_principal(request: Request, caller: CallerDep, session: SessionDep) -> Principal:
    """Choose the organisation (path `org_id`, else `X-Org-Id`, else the first membership; a key's own org).

    Cross-tenant requests get 404: we do not confirm that another organisation exists.
    """
    requested = _requested_org(request)
    if caller.key is not None:
        key = caller.key
        if requested is not None and requested != key.key.org_id:
            raise NotFound("Organisation not found.")
        org_id, role = key.key.org_id, key.membership.role
        permissions = key_permissions(key.key.scopes, role)
        api_key_id: uuid.UUID | None = key.key.id
    else:
        statement = select(Membership).where(Membership.user_id == caller.user.id)
        if requested is not None:
            statement = statement.where(Membership.org_id == requested)
        membership = await session.scalar(statement.order_by(Membership.created_at, Membership.id).limit(1))
        if membership is None:
            if requested is not None:
                raise NotFound("Organisation not found.")
            raise PermissionDenied("You are not a member of any organisation.", code="no_organization")
        org_id, role = membership.org_id, membership.role
        permissions = ROLE_PERMISSIONS[role]
        api_key_id = None
    bind_session_to_org(session.sync_session, org_id)
    return Principal(
        user=caller.user,
        org_id=org_id,
        role=role,
        permissions=permissions,
        via=caller.via,
        meta=_meta(request),
        session_id=caller.session_id,
        api_key_id=api_key_id,
    )


def _mark(dependency: Callable[..., Awaitable[Any]], value: str) -> Callable[..., Awaitable[Any]]:
    setattr(dependency, PERMISSION_MARKER, value)
    return dependency


def require(permission: Permission) -> Any:
    """A dependency that yields the `Principal` if it holds `permission`, else 403.

    Use as `principal: Annotated[Principal, require(Permission.X)]`.
    """

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.can(permission):
            raise PermissionDenied(
                f"Your role ({principal.role.value}) or key scopes do not allow this ({permission.value}).",
                details={"required": permission.value},
            )
        return principal

    return Depends(_mark(check, permission.value))


async def _public() -> None:
    return None


async def _authenticated(caller: CallerDep) -> Caller:
    return caller


PUBLIC = Depends(_mark(_public, "public"))
"""Declares a route open to anyone (e.g. login); put it in the route's `dependencies=[...]`."""

AUTHENTICATED = Depends(_mark(_authenticated, "authenticated"))
"""Declares a route open to any signed-in caller, outside any organisation (e.g. `GET /v1/me`)."""

AuthenticatedCaller = Annotated[Caller, AUTHENTICATED]


def declared_permission(dependant: Any) -> list[str]:
    """The permission markers in a route's dependency tree (exactly one for a well-declared route)."""
    found: list[str] = []
    stack = [dependant]
    while stack:
        current = stack.pop()
        marker = getattr(current.call, PERMISSION_MARKER, None) if current.call else None
        if isinstance(marker, str):
            found.append(marker)
        stack.extend(current.dependencies)
    return found
