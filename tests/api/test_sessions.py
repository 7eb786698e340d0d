"""Sessions: cookies and CSRF, refresh rotation with reuse detection, logout and logout everywhere."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Role
from agentic.resources import Resources
from tests.support.accounts import PASSWORD, Account, make_account, make_org

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
async def account(client: httpx.AsyncClient, db: AsyncSession, resources: Resources) -> Account:
    return await make_account(db, resources, org=await make_org(db), role=Role.ADMIN)


async def _login(client: httpx.AsyncClient, account: Account) -> dict[str, object]:
    response = await client.post("/v1/auth/login", json={"email": account.user.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_login_sets_hardened_cookies(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post("/v1/auth/login", json={"email": account.user.email, "password": PASSWORD})
    cookies = {c.split("=", 1)[0]: c for c in response.headers.get_list("set-cookie")}
    assert "HttpOnly" in cookies["agentic_session"]
    assert "SameSite=lax" in cookies["agentic_session"]
    assert "HttpOnly" in cookies["agentic_refresh"]
    assert "Path=/v1/auth" in cookies["agentic_refresh"]
    assert "HttpOnly" not in cookies["agentic_csrf"]  # the page's script echoes it


async def test_cookie_auth_needs_csrf_for_changes(client: httpx.AsyncClient, account: Account) -> None:
    tokens = await _login(client, account)  # the client keeps the cookies
    assert (await client.get("/v1/me")).status_code == 200  # safe method: cookie alone suffices
    refused = await client.post("/v1/orgs", json={"name": "Via cookie"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    wrong = await client.post("/v1/orgs", json={"name": "Via cookie"}, headers={"x-csrf-token": "forged"})
    assert wrong.status_code == 403
    allowed = await client.post(
        "/v1/orgs", json={"name": "Via cookie"}, headers={"x-csrf-token": str(tokens["csrf_token"])}
    )
    assert allowed.status_code == 201


async def test_refresh_rotates_and_reuse_ends_the_session(
    client: httpx.AsyncClient, account: Account
) -> None:
    first = await _login(client, account)
    client.cookies.clear()
    second = (await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    # The old access token stops working at once; the new one works.
    assert (
        await client.get("/v1/me", headers={"authorization": f"Bearer {first['access_token']}"})
    ).status_code == 401
    new_headers = {"authorization": f"Bearer {second['access_token']}"}
    assert (await client.get("/v1/me", headers=new_headers)).status_code == 200

    replay = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    # Reuse of a rotated token is treated as theft: the whole session ends, new tokens included.
    assert (await client.get("/v1/me", headers=new_headers)).status_code == 401
    assert (
        await client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    ).status_code == 401


async def test_refresh_by_cookie_needs_csrf(client: httpx.AsyncClient, account: Account) -> None:
    tokens = await _login(client, account)
    assert (await client.post("/v1/auth/refresh")).status_code == 403
    ok = await client.post("/v1/auth/refresh", headers={"x-csrf-token": str(tokens["csrf_token"])})
    assert ok.status_code == 200, ok.text


async def test_expired_access_token_says_so(
    client: httpx.AsyncClient, account: Account, db: AsyncSession
) -> None:
    from sqlalchemy import update

    from agentic.db.models import AuthSession
    from agentic.db.types import utcnow

    tokens = await _login(client, account)
    client.cookies.clear()
    await db.execute(update(AuthSession).values(access_expires_at=utcnow()))
    await db.commit()
    response = await client.get("/v1/me", headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


async def test_logout_and_logout_everywhere(client: httpx.AsyncClient, account: Account) -> None:
    one, two, three = [await _login(client, account) for _ in range(3)]
    client.cookies.clear()
    headers = [{"authorization": f"Bearer {t['access_token']}"} for t in (one, two, three)]
    out = await client.post("/v1/auth/logout", headers=headers[0])
    assert out.json() == {"sessions_ended": 1}
    assert (await client.get("/v1/me", headers=headers[0])).status_code == 401
    assert (await client.get("/v1/me", headers=headers[1])).status_code == 200

    everywhere = await client.post("/v1/auth/logout", json={"everywhere": True}, headers=headers[1])
    assert everywhere.json()["sessions_ended"] >= 2
    for h in headers:
        assert (await client.get("/v1/me", headers=h)).status_code == 401


async def test_malformed_authorization_is_401(client: httpx.AsyncClient) -> None:
    for value in ("Basic abc", "Bearer", "Bearer agk_short", "Bearer ags_unknown"):
        response = await client.get("/v1/me", headers={"authorization": value})
        assert response.status_code == 401, value
