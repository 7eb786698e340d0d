"""Tenant isolation: one organisation's members, keys and IDs never reach another's data."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import AgentVersion, Organization, Role
from agentic.resources import Resources
from agentic.security.permissions import Scope
from agentic.services.audit import Actor
from agentic.services.llm import create_credential
from agentic.services.organizations import create_invitation
from tests.api.test_rbac import route_keys
from tests.support.accounts import Account, make_account, make_key, make_org

pytestmark = pytest.mark.usefixtures("backend")


@dataclass
class Tenants:
    a_org: Organization
    a_admin: Account
    a_key: str
    b_org: Organization
    b_admin: Account
    b_member: Account
    b_invitation_id: uuid.UUID
    b_key_id: uuid.UUID
    b_credential_id: uuid.UUID
    b_task_id: uuid.UUID
    b_schedule_id: uuid.UUID
    b_agent_id: uuid.UUID
    b_approval_id: uuid.UUID
    b_webhook_id: uuid.UUID
    b_delivery_id: uuid.UUID
    b_connection_id: uuid.UUID
    b_server_id: uuid.UUID
    b_file_id: uuid.UUID


@pytest.fixture
async def tenants(client: httpx.AsyncClient, db: AsyncSession, resources: Resources) -> Tenants:
    a_org, b_org = await make_org(db, "Alpha"), await make_org(db, "Beta")
    a_admin = await make_account(db, resources, org=a_org, role=Role.ADMIN)
    b_admin = await make_account(db, resources, org=b_org, role=Role.ADMIN)
    b_member = await make_account(db, resources, org=b_org, role=Role.USER)
    invitation = await create_invitation(
        db,
        resources=resources,
        org=b_org,
        email="beta-invitee@example.com",
        role=Role.USER,
        actor=Actor(user_id=b_admin.user.id, org_id=b_org.id),
    )
    b_key_id, _ = await make_key(db, resources, b_admin, scopes=[Scope.ADMIN])
    credential = await create_credential(
        db,
        box=resources.secret_box,
        settings=resources.settings,
        actor=Actor(user_id=b_admin.user.id, org_id=b_org.id),
        provider="openai",
        name="default",
        api_key="sk-beta-secret-key-0000",
        base_url=None,
    )
    _, a_key = await make_key(db, resources, a_admin, scopes=[Scope.ADMIN])
    from agentic.engine import store
    from tests.api.test_tasks import make_agent

    b_agent = await make_agent(db, b_admin)
    version_id = (await db.scalars(select(AgentVersion.id).where(AgentVersion.agent_id == b_agent.id))).one()
    b_task = await store.enqueue(
        db,
        org_id=b_org.id,
        agent_id=b_agent.id,
        agent_version_id=version_id,
        input={},
        created_by_id=b_admin.user.id,
    )
    from tests.support.engine import park_for_approval

    b_approval_id = await park_for_approval(db, task_id=b_task.id)
    from tests.support.webhooks import make_webhook

    b_webhook_id, b_delivery_id = await make_webhook(db, resources, agent=b_agent, user_id=b_admin.user.id)
    from tests.support.webhooks import make_tool_connections

    b_connection_id, b_server_id = await make_tool_connections(db, resources, org_id=b_org.id)
    from tests.support.engine import add_task_file

    b_file_id = await add_task_file(db, task_id=b_task.id)
    from agentic.services.schedules import create_schedule

    b_schedule = await create_schedule(
        db,
        actor=Actor(user_id=b_admin.user.id, org_id=b_org.id),
        agent_id=b_agent.id,
        name="beta nightly",
        cron="0 3 * * *",
        timezone="UTC",
        input={},
        priority=0,
        enabled=True,
    )
    return Tenants(
        a_org=a_org,
        a_admin=a_admin,
        a_key=a_key,
        b_org=b_org,
        b_admin=b_admin,
        b_member=b_member,
        b_invitation_id=invitation.id,
        b_key_id=b_key_id,
        b_credential_id=credential.id,
        b_task_id=b_task.id,
        b_schedule_id=b_schedule.id,
        b_agent_id=b_agent.id,
        b_approval_id=b_approval_id,
        b_webhook_id=b_webhook_id,
        b_delivery_id=b_delivery_id,
        b_connection_id=b_connection_id,
        b_server_id=b_server_id,
        b_file_id=b_file_id,
    )


def _fill(path: str, ids: dict[str, uuid.UUID | int]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)


async def test_every_route_with_another_orgs_ids_is_refused(
    client: httpx.AsyncClient, tenants: Tenants
) -> None:
    """Admin of A, with A's bearer token and with A's admin key, calls every route with B's IDs."""
    b_ids: dict[str, uuid.UUID | int] = {
        "org_id": tenants.b_org.id,
        "user_id": tenants.b_member.user.id,
        "invitation_id": tenants.b_invitation_id,
        "key_id": tenants.b_key_id,
        "credential_id": tenants.b_credential_id,
        "task_id": tenants.b_task_id,
        "schedule_id": tenants.b_schedule_id,
        "agent_id": tenants.b_agent_id,
        "approval_id": tenants.b_approval_id,
        "webhook_id": tenants.b_webhook_id,
        "delivery_id": tenants.b_delivery_id,
        "connection_id": tenants.b_connection_id,
        "server_id": tenants.b_server_id,
        "file_id": tenants.b_file_id,
        "version": 1,  # B's agent has version 1: only the agent ID must make the call fail
    }
    # B's objects addressed through A's own organisation path: still B's objects.
    mixed_ids: dict[str, uuid.UUID | int] = {**b_ids, "org_id": tenants.a_org.id}
    # Valid bodies, so that each call gets past validation to the lookup that must fail.
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("PATCH", "/v1/orgs/{org_id}"): {"name": "pwned"},
        ("PATCH", "/v1/orgs/{org_id}/members/{user_id}"): {"role": "admin"},
        ("POST", "/v1/orgs/{org_id}/invitations"): {"email": "x@example.com", "role": "admin"},
        ("POST", "/v1/tasks/{task_id}/signals"): {"key": "approval"},
        ("POST", "/v1/tasks/{task_id}/approvals/{approval_id}"): {"decision": "approve"},
        ("POST", "/v1/agents/{agent_id}/webhooks"): {
            "url": "https://example.com/h",
            "events": ["task.failed"],
        },
        ("PATCH", "/v1/agents/{agent_id}/webhooks/{webhook_id}"): {"enabled": False},
        ("PATCH", "/v1/sql-connections/{connection_id}"): {"description": "pwned"},
        ("PATCH", "/v1/mcp-servers/{server_id}"): {"description": "pwned"},
        ("PATCH", "/v1/schedules/{schedule_id}"): {"enabled": False},
        ("PATCH", "/v1/agents/{agent_id}"): {"name": "pwned"},
        ("POST", "/v1/agents/{agent_id}/rollback"): {"version": 1},
        ("POST", "/v1/agents/{agent_id}/clone"): {"name": "stolen"},
        ("POST", "/v1/agents/{agent_id}/render"): {"input": {"message": "hi"}},
    }
    checked = 0
    for credentials in (tenants.a_admin.headers, {"authorization": f"Bearer {tenants.a_key}"}):
        for method, path in route_keys():
            if "{" not in path:
                continue
            for ids in (b_ids, mixed_ids):
                if ids is mixed_ids and path.count("{") == 1:
                    continue  # A's own organisation: not a cross-tenant call
                url = _fill(path, ids)
                response = await client.request(
                    method, url, json=bodies.get((method, path)), headers=credentials
                )
                assert response.status_code in (403, 404), (
                    f"{method} {url}: {response.status_code} {response.text}"
                )
                assert str(tenants.b_org.name) not in response.text
                checked += 1
    assert checked >= 20


async def test_org_header_for_a_foreign_org_is_404(client: httpx.AsyncClient, tenants: Tenants) -> None:
    headers = {**tenants.a_admin.headers, "x-org-id": str(tenants.b_org.id)}
    for path in ("/v1/api-keys", "/v1/audit-events", "/v1/me"):
        response = await client.get(path, headers=headers)
        if path == "/v1/me":
            assert response.json()["organization"] is None  # identity still answers, no org context
        else:
            assert response.status_code == 404, path


async def test_lists_contain_only_own_org_data(client: httpx.AsyncClient, tenants: Tenants) -> None:
    headers = tenants.a_admin.headers
    members = (await client.get(f"/v1/orgs/{tenants.a_org.id}/members", headers=headers)).json()
    assert {m["email"] for m in members} == {tenants.a_admin.user.email}
    keys = (await client.get("/v1/api-keys", headers=headers)).json()
    assert str(tenants.b_key_id) not in {k["id"] for k in keys}
    assert (await client.get(f"/v1/orgs/{tenants.a_org.id}/invitations", headers=headers)).json() == []
    events = (await client.get("/v1/audit-events", headers=headers)).json()["items"]
    assert events, "A's own events are listed"
    assert all(e["target_id"] != str(tenants.b_invitation_id) for e in events)
    agents = (await client.get("/v1/agents", headers=headers)).json()["items"]
    assert str(tenants.b_agent_id) not in {a["id"] for a in agents}
    orgs = (await client.get("/v1/orgs", headers=headers)).json()
    assert [o["id"] for o in orgs] == [str(tenants.a_org.id)]


async def test_member_of_two_orgs_switches_with_the_header(
    client: httpx.AsyncClient, tenants: Tenants, db: AsyncSession
) -> None:
    from agentic.db.models import Membership

    db.add(Membership(org_id=tenants.b_org.id, user_id=tenants.a_admin.user.id, role=Role.USER))
    await db.commit()
    headers = tenants.a_admin.headers
    assert (await client.get("/v1/me", headers=headers)).json()["organization"]["id"] == str(tenants.a_org.id)
    in_b = await client.get("/v1/me", headers={**headers, "x-org-id": str(tenants.b_org.id)})
    assert in_b.json()["organization"] == {
        "id": str(tenants.b_org.id),
        "name": "Beta",
        "slug": tenants.b_org.slug,
        "role": "user",
    }
    # As a plain user in B, admin-only routes are refused there, though allowed in A.
    refused = await client.get("/v1/audit-events", headers={**headers, "x-org-id": str(tenants.b_org.id)})
    assert refused.status_code == 403
    assert (await client.get("/v1/audit-events", headers=headers)).status_code == 200
