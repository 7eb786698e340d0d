"""Organisations, members and invitations over HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import AuditEvent, Role
from agentic.mail import extract_links, list_outbox
from agentic.resources import Resources
from tests.support.accounts import Account, make_account, make_org

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
async def admin(client: httpx.AsyncClient, db: AsyncSession, resources: Resources) -> Account:
    return await make_account(db, resources, org=await make_org(db, "Acme"), role=Role.ADMIN)


def _invite_token(resources: Resources, email: str) -> str:
    mail = list_outbox(resources.settings.data_dir / "outbox", to=email)[0]
    link = next(link for link in extract_links(mail.text) if "accept-invitation" in link)
    return parse_qs(urlparse(link).query)["token"][0]


async def test_invite_accept_and_manage_members(
    client: httpx.AsyncClient, admin: Account, db: AsyncSession, resources: Resources
) -> None:
    org_id = admin.org.id
    invite = await client.post(
        f"/v1/orgs/{org_id}/invitations",
        json={"email": "Newbie@Example.com", "role": "operator"},
        headers=admin.headers,
    )
    assert invite.status_code == 201, invite.text
    assert invite.json()["email"] == "newbie@example.com"
    assert [
        i["id"] for i in (await client.get(f"/v1/orgs/{org_id}/invitations", headers=admin.headers)).json()
    ] == [invite.json()["id"]]

    # The invitee has an account in another organisation; someone else cannot use the link.
    newbie = await make_account(
        db, resources, org=await make_org(db), role=Role.ADMIN, email="newbie@example.com"
    )
    stranger = await make_account(db, resources, org=await make_org(db), role=Role.ADMIN)
    token = _invite_token(resources, "newbie@example.com")
    wrong = await client.post("/v1/invitations/accept", json={"token": token}, headers=stranger.headers)
    assert wrong.status_code == 403
    accepted = await client.post("/v1/invitations/accept", json={"token": token}, headers=newbie.headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == "operator"
    assert (
        await client.post("/v1/invitations/accept", json={"token": token}, headers=newbie.headers)
    ).status_code == 400

    members = (await client.get(f"/v1/orgs/{org_id}/members", headers=admin.headers)).json()
    assert {m["email"]: m["role"] for m in members} == {
        admin.user.email: "admin",
        "newbie@example.com": "operator",
    }
    # The new member now acts in either organisation.
    me = await client.get("/v1/me", headers={**newbie.headers, "x-org-id": str(org_id)})
    assert me.json()["organization"]["role"] == "operator"

    promoted = await client.patch(
        f"/v1/orgs/{org_id}/members/{newbie.user.id}", json={"role": "admin"}, headers=admin.headers
    )
    assert promoted.status_code == 200
    removed = await client.delete(f"/v1/orgs/{org_id}/members/{admin.user.id}", headers=newbie.headers)
    assert removed.status_code == 204
    assert (await client.get(f"/v1/orgs/{org_id}", headers=admin.headers)).status_code == 404

    actions = set((await db.scalars(select(AuditEvent.action).where(AuditEvent.org_id == org_id))).all())
    assert {
        "org.member_invited",
        "org.member_joined",
        "org.member_role_changed",
        "org.member_removed",
    } <= actions


async def test_last_admin_cannot_leave_or_be_demoted(client: httpx.AsyncClient, admin: Account) -> None:
    org_id, me = admin.org.id, admin.user.id
    demote = await client.patch(
        f"/v1/orgs/{org_id}/members/{me}", json={"role": "user"}, headers=admin.headers
    )
    assert demote.status_code == 409
    assert demote.json()["error"]["code"] == "last_admin"
    assert (await client.delete(f"/v1/orgs/{org_id}/members/{me}", headers=admin.headers)).status_code == 409


async def test_invitation_revoke_and_duplicates(
    client: httpx.AsyncClient, admin: Account, resources: Resources
) -> None:
    org_id = admin.org.id
    first = (
        await client.post(
            f"/v1/orgs/{org_id}/invitations", json={"email": "x@example.com"}, headers=admin.headers
        )
    ).json()
    second = (
        await client.post(
            f"/v1/orgs/{org_id}/invitations", json={"email": "x@example.com"}, headers=admin.headers
        )
    ).json()
    pending = (await client.get(f"/v1/orgs/{org_id}/invitations", headers=admin.headers)).json()
    assert [i["id"] for i in pending] == [second["id"]]  # a new invitation replaces the pending one
    assert first["id"] != second["id"]
    assert (
        await client.delete(f"/v1/orgs/{org_id}/invitations/{second['id']}", headers=admin.headers)
    ).status_code == 204
    assert (
        await client.delete(f"/v1/orgs/{org_id}/invitations/{second['id']}", headers=admin.headers)
    ).status_code == 404
    member = await client.post(
        f"/v1/orgs/{org_id}/invitations", json={"email": admin.user.email}, headers=admin.headers
    )
    assert member.status_code == 409
    assert member.json()["error"]["code"] == "already_member"


async def test_create_and_rename_organisations(client: httpx.AsyncClient, admin: Account) -> None:
    created = await client.post("/v1/orgs", json={"name": "Acme"}, headers=admin.headers)
    assert created.status_code == 201
    assert created.json()["slug"] == "acme-2"
    assert created.json()["role"] == "admin"
    names = sorted(o["name"] for o in (await client.get("/v1/orgs", headers=admin.headers)).json())
    assert names == ["Acme", "Acme"]
    renamed = await client.patch(
        f"/v1/orgs/{admin.org.id}",
        json={"name": "Acme Corp", "billing_email": "ap@example.com"},
        headers=admin.headers,
    )
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["billing_email"]) == ("Acme Corp", "ap@example.com")


async def test_organisation_can_forbid_storing_llm_content(client: httpx.AsyncClient, admin: Account) -> None:
    assert (await client.get(f"/v1/orgs/{admin.org.id}", headers=admin.headers)).json()[
        "store_llm_content"
    ] is True
    changed = await client.patch(
        f"/v1/orgs/{admin.org.id}", json={"store_llm_content": False}, headers=admin.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["store_llm_content"] is False
    again = await client.get(f"/v1/orgs/{admin.org.id}", headers=admin.headers)
    assert again.json()["store_llm_content"] is False
    assert again.json()["name"] == "Acme"
