"""Permissions, the role matrix and API-key scopes: the one source of truth for authorisation.

`docs/security/rbac.md` documents this table; the role-matrix test is generated from it.
"""

from __future__ import annotations

import enum

from agentic.db.models import Role


class Permission(enum.StrEnum):
    """Something a principal may do inside its current organisation."""

    ORG_READ = "org:read"
    ORG_MANAGE = "org:manage"
    MEMBERS_READ = "members:read"
    MEMBERS_MANAGE = "members:manage"
    API_KEYS_OWN = "api_keys:own"  # create, list, rotate and revoke one's own keys
    API_KEYS_MANAGE = "api_keys:manage"  # every key in the organisation
    AUDIT_READ = "audit:read"
    PROVIDERS_MANAGE = "providers:manage"  # the organisation's LLM provider credentials
    TOOLS_MANAGE = "tools:manage"  # the organisation's SQL connections and MCP servers
    AGENTS_READ = "agents:read"
    AGENTS_WRITE = "agents:write"  # create agents, edit one's own
    AGENTS_MANAGE = "agents:manage"  # edit and delete anyone's
    TASKS_RUN = "tasks:run"
    TASKS_READ = "tasks:read"  # one's own tasks
    TASKS_READ_ALL = "tasks:read_all"
    TASKS_MANAGE = "tasks:manage"  # cancel/retry anyone's tasks, dead-letter queue
    QUEUES_READ = "queues:read"


_USER = frozenset(
    {
        Permission.ORG_READ,
        Permission.MEMBERS_READ,
        Permission.API_KEYS_OWN,
        Permission.AGENTS_READ,
        Permission.AGENTS_WRITE,
        Permission.TASKS_RUN,
        Permission.TASKS_READ,
    }
)
_OPERATOR = _USER | {Permission.TASKS_READ_ALL, Permission.TASKS_MANAGE, Permission.QUEUES_READ}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.USER: _USER,
    Role.OPERATOR: frozenset(_OPERATOR),
    Role.ADMIN: frozenset(Permission),
}


class Scope(enum.StrEnum):
    """What an API key may be used for; always intersected with its creator's current role."""

    AGENTS_READ = "agents:read"
    AGENTS_WRITE = "agents:write"
    TASKS_RUN = "tasks:run"
    TASKS_READ = "tasks:read"
    ADMIN = "admin"


SCOPE_PERMISSIONS: dict[Scope, frozenset[Permission]] = {
    Scope.AGENTS_READ: frozenset({Permission.ORG_READ, Permission.AGENTS_READ}),
    Scope.AGENTS_WRITE: frozenset({Permission.ORG_READ, Permission.AGENTS_READ, Permission.AGENTS_WRITE}),
    Scope.TASKS_RUN: frozenset({Permission.ORG_READ, Permission.TASKS_RUN, Permission.TASKS_READ}),
    Scope.TASKS_READ: frozenset(
        {Permission.ORG_READ, Permission.TASKS_READ, Permission.TASKS_READ_ALL, Permission.QUEUES_READ}
    ),
    Scope.ADMIN: frozenset(Permission),
}

# Scopes a role may put on a key. `admin` is reserved to admins so that a key's label never promises more than
# its creator has (the use-time intersection would cap it anyway).
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.USER: frozenset(set(Scope) - {Scope.ADMIN}),
    Role.OPERATOR: frozenset(set(Scope) - {Scope.ADMIN}),
    Role.ADMIN: frozenset(Scope),
}


def key_permissions(scopes: list[str], creator_role: Role) -> frozenset[Permission]:
    """What a key with `scopes` may do now: its scopes' permissions, capped by its creator's current role."""
    granted: set[Permission] = set()
    for scope in scopes:
        granted |= SCOPE_PERMISSIONS.get(Scope(scope), frozenset())
    return frozenset(granted) & ROLE_PERMISSIONS[creator_role]
