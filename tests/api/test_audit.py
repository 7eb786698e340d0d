"""The audit log API: admins only, own organisation only, filters and cursor pagination."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Role
from agentic.resources import Resources
from agentic.services.audit import Actor
from tests.support.accounts import Account, make_account, make_org

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
async def admin(client: httpx.AsyncClient, db: AsyncSession, resources: Resources) -> Account:
    account = await make_account(db, resources, org=await make_org(db), role=Role.ADMIN)
    actor = Actor(user_id=account.user.id, org_id=account.org.id, request_id="req-audit")
    for i in range(7):
        actor.audit(db, f"test.event_{i % 2}", target_type="thing", target_id=str(i), details={"i": i})
    await db.commit()
    return account


async def test_pages_through_events_newest_first(client: httpx.AsyncClient, admin: Account) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3, "action": "test.*"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/audit-events", params=params, headers=admin.headers)).json()
        seen += [item["target_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(i) for i in reversed(range(7))]


async def test_filters(client: httpx.AsyncClient, admin: Account) -> None:
    only_odd = (
        await client.get("/v1/audit-events", params={"action": "test.event_1"}, headers=admin.headers)
    ).json()
    assert [i["target_id"] for i in only_odd["items"]] == ["5", "3", "1"]
    one = (await client.get("/v1/audit-events", params={"target_id": "4"}, headers=admin.headers)).json()[
        "items"
    ]
    assert one[0]["details"] == {"i": 4}
    assert one[0]["request_id"] == "req-audit"
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    later = await client.get("/v1/audit-events", params={"since": future}, headers=admin.headers)
    assert later.json()["items"] == []


async def test_bad_parameters_are_422(client: httpx.AsyncClient, admin: Account) -> None:
    for params in ({"cursor": "nope"}, {"limit": 0}, {"limit": 1000}, {"since": "2026-01-01T00:00:00"}):
        response = await client.get("/v1/audit-events", params=params, headers=admin.headers)
        assert response.status_code == 422, params


async def test_non_admins_cannot_read_it(
    client: httpx.AsyncClient, admin: Account, db: AsyncSession, resources: Resources
) -> None:
    operator = await make_account(db, resources, org=admin.org, role=Role.OPERATOR)
    assert (await client.get("/v1/audit-events", headers=operator.headers)).status_code == 403
