"""docs/security/rbac.md says what the code enforces."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from agentic.api.app import ROUTERS
from agentic.api.security import declared_permission
from agentic.db.models import Role
from agentic.security.permissions import ROLE_PERMISSIONS, ROLE_SCOPES, Permission, Scope

DOC = (Path(__file__).resolve().parents[2] / "docs" / "security" / "rbac.md").read_text()


def test_permission_matrix_matches_the_code() -> None:
    rows = re.findall(r"^\| `([a-z_:]+)` \| (✓|—) \| (✓|—) \| (✓|—) \|", DOC, flags=re.M)
    documented = {name: (u == "✓", o == "✓", a == "✓") for name, u, o, a in rows}
    actual = {
        p.value: tuple(p in ROLE_PERMISSIONS[r] for r in (Role.USER, Role.OPERATOR, Role.ADMIN))
        for p in Permission
    }
    assert documented == actual


def test_scopes_table_lists_every_scope_and_who_may_use_it() -> None:
    rows = dict(re.findall(r"^\| `([a-z_:]+)` \| [^|]+ \| ([a-z, ]+) \|$", DOC, flags=re.M))
    assert set(rows) == {s.value for s in Scope}
    for scope in Scope:
        roles = {r.value for r in Role if scope in ROLE_SCOPES[r]}
        assert set(rows[scope.value].replace(" ", "").split(",")) == roles


def test_route_table_matches_the_routes() -> None:
    documented = set(re.findall(r"^\| ([A-Z]+) \| `([^`]+)` \| `([^`]+)` \|$", DOC, flags=re.M))
    actual = {
        (method, route.path, declared_permission(route.dependant)[0])
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    assert documented == actual
