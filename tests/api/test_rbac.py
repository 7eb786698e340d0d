"""Authorisation: every route declares a permission, and each role gets exactly what the matrix grants."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.api.app import ROUTERS
from agentic.api.security import declared_permission
from agentic.db.models import AgentVersion, Invitation, Organization, Role, Task
from agentic.db.types import utcnow
from agentic.resources import Resources
from agentic.security.permissions import ROLE_PERMISSIONS, Permission, Scope
from agentic.security.tokens import random_token
from agentic.services.audit import Actor
from agentic.services.organizations import create_invitation
from tests.support.accounts import Account, make_account, make_key, make_org, new_token

pytestmark = pytest.mark.usefixtures("backend")


def all_routes() -> list[APIRoute]:
    return [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]


def route_keys() -> list[tuple[str, str]]:
    return [(method, route.path) for route in all_routes() for method in sorted(route.methods or ())]


def test_every_route_declares_exactly_one_permission() -> None:
    undeclared = {
        f"{sorted(route.methods or ())} {route.path}": declared_permission(route.dependant)
        for route in all_routes()
        if len(declared_permission(route.dependant)) != 1
    }
    assert undeclared == {}, "routes without exactly one declared permission"


def test_declared_permissions_are_known() -> None:
    known = {p.value for p in Permission} | {"public", "authenticated"}
    for route in all_routes():
        assert declared_permission(route.dependant)[0] in known, route.path


async def test_openapi_publishes_every_operations_permission(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = [(m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
    assert len(operations) == len(route_keys())
    assert all("x-permission" in op for _m, _p, op in operations)


# --- the role matrix ---------------------------------------------------------------------------------------


@dataclass
class World:
    db: AsyncSession
    resources: Resources
    org: Organization
    accounts: dict[Role, Account]


Recipe = Callable[[World, Account], Awaitable[tuple[str, Any]]]


async def _member(world: World) -> Account:
    return await make_account(world.db, world.resources, org=world.org, role=Role.USER)


async def _invitation(world: World) -> uuid.UUID:
    admin = world.accounts[Role.ADMIN]
    invitation = await create_invitation(
        world.db,
        resources=world.resources,
        org=world.org,
        email=f"invitee-{uuid.uuid4().hex[:6]}@example.com",
        role=Role.USER,
        actor=Actor(user_id=admin.user.id, org_id=world.org.id),
    )
    return invitation.id


async def _own_key(world: World, caller: Account) -> uuid.UUID:
    key_id, _secret = await make_key(world.db, world.resources, caller, scopes=[Scope.AGENTS_READ])
    return key_id


async def _invited_elsewhere(world: World, caller: Account) -> str:
    other = await make_org(world.db)
    owner = await make_account(world.db, world.resources, org=other, role=Role.ADMIN)
    token = random_token()
    world.db.add(
        Invitation(
            org_id=other.id,
            email=caller.user.email,
            role=Role.USER,
            token_hash=world.resources.hasher.hash(token),
            invited_by_id=owner.user.id,
            expires_at=utcnow() + dt.timedelta(hours=1),
        )
    )
    await world.db.commit()
    return token


def _org(path: str) -> Recipe:
    async def recipe(world: World, _caller: Account) -> tuple[str, Any]:
        return path.format(org=world.org.id), None

    return recipe


async def _patch_org(world: World, _caller: Account) -> tuple[str, Any]:
    return f"/v1/orgs/{world.org.id}", {"name": "Renamed"}


async def _patch_member(world: World, _caller: Account) -> tuple[str, Any]:
    return f"/v1/orgs/{world.org.id}/members/{(await _member(world)).user.id}", {"role": "operator"}


async def _delete_member(world: World, _caller: Account) -> tuple[str, Any]:
    return f"/v1/orgs/{world.org.id}/members/{(await _member(world)).user.id}", None


async def _invite(world: World, _caller: Account) -> tuple[str, Any]:
    return f"/v1/orgs/{world.org.id}/invitations", {"email": f"n-{uuid.uuid4().hex[:6]}@example.com"}


async def _delete_invitation(world: World, _caller: Account) -> tuple[str, Any]:
    return f"/v1/orgs/{world.org.id}/invitations/{await _invitation(world)}", None


async def _create_key(_world: World, _caller: Account) -> tuple[str, Any]:
    return "/v1/api-keys", {"name": "k", "scopes": ["agents:read"]}


async def _rotate_key(world: World, caller: Account) -> tuple[str, Any]:
    return f"/v1/api-keys/{await _own_key(world, caller)}/rotate", {}


async def _delete_key(world: World, caller: Account) -> tuple[str, Any]:
    return f"/v1/api-keys/{await _own_key(world, caller)}", None


async def _create_org(_world: World, _caller: Account) -> tuple[str, Any]:
    return "/v1/orgs", {"name": "Another"}


async def _accept(world: World, caller: Account) -> tuple[str, Any]:
    return "/v1/invitations/accept", {"token": await _invited_elsewhere(world, caller)}


async def _create_credential(_world: World, _caller: Account) -> tuple[str, Any]:
    return "/v1/provider-credentials", {"provider": "openai", "name": uuid.uuid4().hex[:8], "api_key": "sk-x"}


async def _delete_credential(world: World, _caller: Account) -> tuple[str, Any]:
    from agentic.services.llm import create_credential

    admin = world.accounts[Role.ADMIN]
    credential = await create_credential(
        world.db,
        box=world.resources.secret_box,
        settings=world.resources.settings,
        actor=Actor(user_id=admin.user.id, org_id=world.org.id),
        provider="anthropic",
        name=uuid.uuid4().hex[:8],
        api_key="sk-ant-x",
        base_url=None,
    )
    return f"/v1/provider-credentials/{credential.id}", None


async def _agent(world: World) -> uuid.UUID:
    from tests.api.test_tasks import make_agent

    return (await make_agent(world.db, world.accounts[Role.ADMIN])).id


async def _task(world: World, caller: Account, state: str = "queued") -> uuid.UUID:
    from agentic.engine import store

    agent_id = await _agent(world)
    version_id = (
        await world.db.scalars(select(AgentVersion.id).where(AgentVersion.agent_id == agent_id))
    ).one()
    task = await store.enqueue(
        world.db,
        org_id=world.org.id,
        agent_id=agent_id,
        agent_version_id=version_id,
        input={},
        created_by_id=caller.user.id,
    )
    if state != "queued":
        await world.db.execute(update(Task).where(Task.id == task.id).values(state=state))
        await world.db.commit()
    return task.id


async def _create_task(world: World, _caller: Account) -> tuple[str, Any]:
    return "/v1/tasks", {"agent_id": str(await _agent(world))}


def _own_task(suffix: str) -> Recipe:
    async def recipe(world: World, caller: Account) -> tuple[str, Any]:
        return f"/v1/tasks/{await _task(world, caller)}{suffix}", None

    return recipe


async def _retry(world: World, caller: Account) -> tuple[str, Any]:
    return f"/v1/tasks/{await _task(world, caller, 'failed')}/retry", {}


async def _signal(world: World, caller: Account) -> tuple[str, Any]:
    return f"/v1/tasks/{await _task(world, caller)}/signals", {"key": "approval", "payload": True}


async def _task_file(world: World, caller: Account) -> tuple[str, Any]:
    from tests.support.engine import add_task_file

    task_id = await _task(world, caller)
    return f"/v1/tasks/{task_id}/files/{await add_task_file(world.db, task_id=task_id)}", None


async def _decide(world: World, caller: Account) -> tuple[str, Any]:
    from tests.support.engine import park_for_approval

    task_id = await _task(world, caller)
    approval_id = await park_for_approval(world.db, task_id=task_id)
    return f"/v1/tasks/{task_id}/approvals/{approval_id}", {"decision": "deny"}


def _dead_task(suffix: str) -> Recipe:
    async def recipe(world: World, caller: Account) -> tuple[str, Any]:
        return f"/v1/dead-letters/{await _task(world, caller, 'dead')}{suffix}", None

    return recipe


async def _schedule_id(world: World, caller: Account) -> uuid.UUID:
    from agentic.services.schedules import create_schedule

    schedule = await create_schedule(
        world.db,
        actor=Actor(user_id=caller.user.id, org_id=world.org.id),
        agent_id=await _agent(world),
        name="nightly",
        cron="0 3 * * *",
        timezone="UTC",
        input={},
        priority=0,
        enabled=True,
    )
    return schedule.id


async def _create_schedule(world: World, _caller: Account) -> tuple[str, Any]:
    return "/v1/schedules", {"agent_id": str(await _agent(world)), "name": "hourly", "cron": "0 * * * *"}


def _own_schedule(body: Any = None) -> Recipe:
    async def recipe(world: World, caller: Account) -> tuple[str, Any]:
        return f"/v1/schedules/{await _schedule_id(world, caller)}", body

    return recipe


def _agent_body() -> dict[str, Any]:
    return {"name": f"a-{uuid.uuid4().hex[:6]}", "model": {"provider": "mock", "name": "echo"}}


async def _create_agent(_world: World, _caller: Account) -> tuple[str, Any]:
    return "/v1/agents", _agent_body()


async def _import_agent(_world: World, _caller: Account) -> tuple[str, Any]:
    return "/v1/agents/import", {"kind": "agentic.agent", "format_version": 1, **_agent_body()}


def _own_agent(suffix: str, body: Any = None) -> Recipe:
    # The caller's own agent: writes need agents:write *and* ownership (or agents:manage).
    async def recipe(world: World, caller: Account) -> tuple[str, Any]:
        from tests.api.test_tasks import make_agent

        agent = await make_agent(world.db, caller)
        return f"/v1/agents/{agent.id}{suffix}", body() if callable(body) else body

    return recipe


async def _own_webhook(world: World, caller: Account) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    from tests.api.test_tasks import make_agent
    from tests.support.webhooks import make_webhook

    agent = await make_agent(world.db, caller)
    webhook_id, delivery_id = await make_webhook(
        world.db, world.resources, agent=agent, user_id=caller.user.id
    )
    return agent.id, webhook_id, delivery_id


def _webhook(suffix: str = "", body: Any = None) -> Recipe:
    async def recipe(world: World, caller: Account) -> tuple[str, Any]:
        agent_id, webhook_id, delivery_id = await _own_webhook(world, caller)
        path = f"/v1/agents/{agent_id}/webhooks/{webhook_id}{suffix}".replace("{delivery}", str(delivery_id))
        return path, body

    return recipe


async def _webhooks_of_own_agent(world: World, caller: Account) -> tuple[str, Any]:
    agent_id, _, _ = await _own_webhook(world, caller)
    return f"/v1/agents/{agent_id}/webhooks", {"url": "https://example.com/hook", "events": ["task.failed"]}


async def _sql_connection(world: World, _caller: Account) -> uuid.UUID:
    from tests.support.webhooks import make_tool_connections

    connection_id, _ = await make_tool_connections(world.db, world.resources, org_id=world.org.id)
    return connection_id


async def _mcp_server(world: World, _caller: Account) -> uuid.UUID:
    from tests.support.webhooks import make_tool_connections

    _, server_id = await make_tool_connections(world.db, world.resources, org_id=world.org.id)
    return server_id


def _sql(suffix: str = "", body: Any = None) -> Recipe:
    async def recipe(world: World, caller: Account) -> tuple[str, Any]:
        return f"/v1/sql-connections/{await _sql_connection(world, caller)}{suffix}", body

    return recipe


def _mcp(suffix: str = "", body: Any = None) -> Recipe:
    async def recipe(world: World, caller: Account) -> tuple[str, Any]:
        return f"/v1/mcp-servers/{await _mcp_server(world, caller)}{suffix}", body

    return recipe


async def _create_sql(_world: World, _caller: Account) -> tuple[str, Any]:
    name = f"db{uuid.uuid4().hex[:6]}"
    return "/v1/sql-connections", {"name": name, "dsn": "postgresql://r:x@127.0.0.1:5432/x"}


async def _create_mcp(_world: World, _caller: Account) -> tuple[str, Any]:
    # Port 9 (discard) on loopback: registration succeeds and records that discovery failed, at once.
    return "/v1/mcp-servers", {
        "name": f"m{uuid.uuid4().hex[:6]}",
        "transport": "http",
        "url": "http://127.0.0.1:9/mcp",
    }


async def _schedule_preview(_world: World, _caller: Account) -> tuple[str, Any]:
    return "/v1/schedules/preview", {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}


async def _render_draft(_world: World, _caller: Account) -> tuple[str, Any]:
    return "/v1/agents/render", {"system_prompt": "Hi", "input": {}}


async def _logout(_world: World, _caller: Account) -> tuple[str, Any]:
    return "/v1/auth/logout", {}


# One way to call every non-public route. A new route fails `test_recipes_cover_every_route` until it is here.
RECIPES: dict[tuple[str, str], Recipe] = {
    ("POST", "/v1/auth/logout"): _logout,
    ("GET", "/v1/me"): _org("/v1/me"),
    ("GET", "/v1/orgs"): _org("/v1/orgs"),
    ("POST", "/v1/orgs"): _create_org,
    ("GET", "/v1/orgs/{org_id}"): _org("/v1/orgs/{org}"),
    ("PATCH", "/v1/orgs/{org_id}"): _patch_org,
    ("GET", "/v1/orgs/{org_id}/members"): _org("/v1/orgs/{org}/members"),
    ("PATCH", "/v1/orgs/{org_id}/members/{user_id}"): _patch_member,
    ("DELETE", "/v1/orgs/{org_id}/members/{user_id}"): _delete_member,
    ("GET", "/v1/orgs/{org_id}/invitations"): _org("/v1/orgs/{org}/invitations"),
    ("POST", "/v1/orgs/{org_id}/invitations"): _invite,
    ("DELETE", "/v1/orgs/{org_id}/invitations/{invitation_id}"): _delete_invitation,
    ("POST", "/v1/invitations/accept"): _accept,
    ("GET", "/v1/api-keys"): _org("/v1/api-keys"),
    ("POST", "/v1/api-keys"): _create_key,
    ("POST", "/v1/api-keys/{key_id}/rotate"): _rotate_key,
    ("DELETE", "/v1/api-keys/{key_id}"): _delete_key,
    ("GET", "/v1/audit-events"): _org("/v1/audit-events"),
    ("GET", "/v1/provider-credentials"): _org("/v1/provider-credentials"),
    ("POST", "/v1/provider-credentials"): _create_credential,
    ("DELETE", "/v1/provider-credentials/{credential_id}"): _delete_credential,
    ("POST", "/v1/tasks"): _create_task,
    ("GET", "/v1/tasks"): _org("/v1/tasks"),
    ("GET", "/v1/tasks/{task_id}"): _own_task(""),
    ("POST", "/v1/tasks/{task_id}/cancel"): _own_task("/cancel"),
    ("GET", "/v1/tasks/{task_id}/events"): _own_task("/events"),
    ("GET", "/v1/tasks/{task_id}/steps"): _own_task("/steps"),
    ("GET", "/v1/tasks/{task_id}/attempts"): _own_task("/attempts"),
    ("POST", "/v1/tasks/{task_id}/signals"): _signal,
    ("GET", "/v1/approvals"): _org("/v1/approvals"),
    ("GET", "/v1/tools"): _org("/v1/tools"),
    ("POST", "/v1/agents/render"): _render_draft,
    ("GET", "/v1/usage/daily"): _org("/v1/usage/daily"),
    ("GET", "/v1/queues/stats"): _org("/v1/queues/stats"),
    ("GET", "/v1/tasks/{task_id}/files"): _own_task("/files"),
    ("GET", "/v1/tasks/{task_id}/files/{file_id}"): _task_file,
    ("GET", "/v1/sql-connections"): _org("/v1/sql-connections"),
    ("POST", "/v1/sql-connections"): _create_sql,
    ("GET", "/v1/sql-connections/{connection_id}"): _sql(),
    ("PATCH", "/v1/sql-connections/{connection_id}"): _sql("", {"description": "x"}),
    ("DELETE", "/v1/sql-connections/{connection_id}"): _sql(),
    ("GET", "/v1/mcp-servers"): _org("/v1/mcp-servers"),
    ("POST", "/v1/mcp-servers"): _create_mcp,
    ("GET", "/v1/mcp-servers/{server_id}"): _mcp(),
    ("PATCH", "/v1/mcp-servers/{server_id}"): _mcp("", {"description": "x"}),
    ("DELETE", "/v1/mcp-servers/{server_id}"): _mcp(),
    ("POST", "/v1/mcp-servers/{server_id}/refresh"): _mcp("/refresh"),
    ("GET", "/v1/agents/{agent_id}/webhooks"): _webhooks_of_own_agent,
    ("POST", "/v1/agents/{agent_id}/webhooks"): _webhooks_of_own_agent,
    ("GET", "/v1/agents/{agent_id}/webhooks/{webhook_id}"): _webhook(),
    ("PATCH", "/v1/agents/{agent_id}/webhooks/{webhook_id}"): _webhook("", {"enabled": False}),
    ("DELETE", "/v1/agents/{agent_id}/webhooks/{webhook_id}"): _webhook(),
    ("POST", "/v1/agents/{agent_id}/webhooks/{webhook_id}/rotate-secret"): _webhook("/rotate-secret"),
    ("GET", "/v1/agents/{agent_id}/webhooks/{webhook_id}/deliveries"): _webhook("/deliveries"),
    ("GET", "/v1/agents/{agent_id}/webhooks/{webhook_id}/deliveries/{delivery_id}"): _webhook(
        "/deliveries/{delivery}"
    ),
    ("POST", "/v1/agents/{agent_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): _webhook(
        "/deliveries/{delivery}/redeliver"
    ),
    ("GET", "/v1/tasks/{task_id}/approvals"): _own_task("/approvals"),
    ("POST", "/v1/tasks/{task_id}/approvals/{approval_id}"): _decide,
    ("POST", "/v1/tasks/{task_id}/retry"): _retry,
    ("GET", "/v1/dead-letters"): _org("/v1/dead-letters"),
    ("POST", "/v1/dead-letters/{task_id}/requeue"): _dead_task("/requeue"),
    ("DELETE", "/v1/dead-letters/{task_id}"): _dead_task(""),
    ("GET", "/v1/agents"): _org("/v1/agents"),
    ("POST", "/v1/agents"): _create_agent,
    ("POST", "/v1/agents/import"): _import_agent,
    ("GET", "/v1/agents/{agent_id}"): _own_agent(""),
    ("PATCH", "/v1/agents/{agent_id}"): _own_agent("", {"description": "changed"}),
    ("DELETE", "/v1/agents/{agent_id}"): _own_agent(""),
    ("GET", "/v1/agents/{agent_id}/versions"): _own_agent("/versions"),
    ("GET", "/v1/agents/{agent_id}/versions/{version}"): _own_agent("/versions/1"),
    ("GET", "/v1/agents/{agent_id}/diff"): _own_agent("/diff?from=1&to=1"),
    ("POST", "/v1/agents/{agent_id}/rollback"): _own_agent("/rollback", {"version": 1}),
    ("POST", "/v1/agents/{agent_id}/clone"): _own_agent("/clone", lambda: {"name": "copy"}),
    ("GET", "/v1/agents/{agent_id}/export"): _own_agent("/export?format=yaml"),
    ("POST", "/v1/agents/{agent_id}/render"): _own_agent("/render", {"input": {"message": "hi"}}),
    ("GET", "/v1/schedules"): _org("/v1/schedules"),
    ("POST", "/v1/schedules"): _create_schedule,
    ("POST", "/v1/schedules/preview"): _schedule_preview,
    ("GET", "/v1/schedules/{schedule_id}"): _own_schedule(),
    ("PATCH", "/v1/schedules/{schedule_id}"): _own_schedule({"enabled": False}),
    ("DELETE", "/v1/schedules/{schedule_id}"): _own_schedule(),
}


def _permission_of(method: str, path: str) -> str:
    route = next(r for r in all_routes() if r.path == path and method in (r.methods or ()))
    return declared_permission(route.dependant)[0]


def test_recipes_cover_every_route() -> None:
    protected = {key for key in route_keys() if _permission_of(*key) != "public"}
    assert protected == set(RECIPES)


def expected_allowed(method: str, path: str, role: Role) -> bool:
    permission = _permission_of(method, path)
    return permission == "authenticated" or Permission(permission) in ROLE_PERMISSIONS[role]


@pytest.fixture
async def world(client: httpx.AsyncClient, db: AsyncSession, resources: Resources) -> World:
    org = await make_org(db, "Matrix")
    accounts = {role: await make_account(db, resources, org=org, role=role) for role in Role}
    return World(db=db, resources=resources, org=org, accounts=accounts)


async def test_role_matrix(client: httpx.AsyncClient, world: World) -> None:
    """Each role x each route: allowed exactly when the permission matrix grants it."""
    results: dict[str, list[str]] = {"unexpected": [], "allowed": [], "denied": []}
    for (method, path), recipe in RECIPES.items():
        for role, account in world.accounts.items():
            url, body = await recipe(world, account)
            headers = {"authorization": f"Bearer {await new_token(world.db, world.resources, account)}"}
            response = await client.request(method, url, json=body, headers=headers)
            allowed = expected_allowed(method, path, role)
            ok = response.status_code not in (401, 403) if allowed else response.status_code == 403
            results["allowed" if allowed else "denied"].append(f"{role.value} {method} {path}")
            if not ok:
                results["unexpected"].append(
                    f"{role.value} {method} {path}: {response.status_code} {response.text[:120]}"
                )
    assert results["unexpected"] == []
    # Not vacuous: the matrix both grants and refuses, for each role below admin.
    assert len(results["denied"]) >= 10
    assert len(results["allowed"]) >= 30
    assert any(line.startswith("operator") for line in results["denied"])


async def test_unauthenticated_calls_get_401(client: httpx.AsyncClient, world: World) -> None:
    for (method, path), recipe in RECIPES.items():
        url, body = await recipe(world, world.accounts[Role.ADMIN])
        response = await client.request(method, url, json=body)
        assert response.status_code == 401, f"{method} {path}"
        assert response.json()["error"]["code"] == "unauthenticated"


async def test_a_key_never_exceeds_its_creators_role(client: httpx.AsyncClient, world: World) -> None:
    user = world.accounts[Role.USER]
    refused = await client.post(
        "/v1/api-keys", json={"name": "too much", "scopes": ["admin"]}, headers=user.headers
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "scope_exceeds_role"

    # An admin's admin-scoped key loses its power when the admin is demoted.
    admin = world.accounts[Role.ADMIN]
    _key_id, secret = await make_key(world.db, world.resources, admin, scopes=[Scope.ADMIN])
    as_key = {"authorization": f"Bearer {secret}"}
    assert (await client.get("/v1/audit-events", headers=as_key)).status_code == 200
    operator = world.accounts[Role.OPERATOR]
    promote = await client.patch(
        f"/v1/orgs/{world.org.id}/members/{operator.user.id}", json={"role": "admin"}, headers=admin.headers
    )
    assert promote.status_code == 200
    demote = await client.patch(
        f"/v1/orgs/{world.org.id}/members/{admin.user.id}", json={"role": "user"}, headers=operator.headers
    )
    assert demote.status_code == 200
    assert (await client.get("/v1/audit-events", headers=as_key)).status_code == 403


async def test_key_scopes_limit_what_it_can_do(client: httpx.AsyncClient, world: World) -> None:
    admin = world.accounts[Role.ADMIN]
    _key_id, secret = await make_key(world.db, world.resources, admin, scopes=[Scope.AGENTS_READ])
    as_key = {"authorization": f"Bearer {secret}"}
    assert (await client.get(f"/v1/orgs/{world.org.id}", headers=as_key)).status_code == 200
    assert (await client.get("/v1/api-keys", headers=as_key)).status_code == 403
    assert (await client.get("/v1/audit-events", headers=as_key)).status_code == 403
    assert (await client.post("/v1/orgs", json={"name": "x"}, headers=as_key)).status_code == 403
