"""The identity acceptance flow, end to end over HTTP, with mail delivered to a real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from agentic.api.app import create_app
from agentic.config import Settings, SmtpSettings
from agentic.mail import extract_links
from tests.conftest import asgi_client
from tests.support.smtp import SmtpTestServer

pytestmark = pytest.mark.usefixtures("backend")

PASSWORD = "a sufficiently long passphrase"


def token_from(text: str, path: str) -> str:
    link = next(link for link in extract_links(text) if urlparse(link).path == path)
    return parse_qs(urlparse(link).query)["token"][0]


@pytest.fixture
async def mail_app(settings: Settings, smtp_server: SmtpTestServer) -> AsyncIterator[FastAPI]:
    settings.smtp = SmtpSettings(host=smtp_server.host, port=smtp_server.port, tls="none", timeout_s=5)
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def http(mail_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(mail_app) as client:
        yield client


async def test_signup_verify_login_key_rotate_revoke(
    http: httpx.AsyncClient, smtp_server: SmtpTestServer
) -> None:
    email = "ada@example.com"
    signup = await http.post(
        "/v1/auth/signup", json={"email": email, "password": PASSWORD, "display_name": "Ada"}
    )
    assert signup.status_code == 202, signup.text

    # Before verification the right password is not enough.
    early = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert early.status_code == 403
    assert early.json()["error"]["code"] == "email_not_verified"

    mail = await asyncio.to_thread(smtp_server.wait_for, email)
    assert "Verify your email" in mail.subject
    verify_token = token_from(mail.text, "/verify-email")
    verified = await http.post("/v1/auth/verify-email", json={"token": verify_token})
    assert verified.status_code == 200, verified.text
    again = await http.post("/v1/auth/verify-email", json={"token": verify_token})
    assert again.status_code == 400  # single use

    login = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["token_type"] == "bearer"
    assert "agentic_session" in login.cookies
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}
    me = (await http.get("/v1/me", headers=bearer)).json()
    assert me["email"] == email
    assert me["organization"]["role"] == "admin"

    created = await http.post("/v1/api-keys", json={"name": "ci", "scopes": ["agents:read"]}, headers=bearer)
    assert created.status_code == 201, created.text
    old_key = created.json()["key"]
    assert old_key.startswith(created.json()["prefix"] + "_")
    as_key = {"authorization": f"Bearer {old_key}"}
    used = await http.get("/v1/me", headers=as_key)
    assert used.status_code == 200
    assert used.json()["authenticated_via"] == "api_key"
    assert used.json()["permissions"] == ["agents:read", "org:read"]
    listed = (await http.get("/v1/api-keys", headers=bearer)).json()
    assert "key" not in listed[0]
    assert listed[0]["last_used_at"] is not None
    assert old_key not in str(listed)

    rotated = await http.post(
        f"/v1/api-keys/{created.json()['id']}/rotate", json={"grace_seconds": 2}, headers=bearer
    )
    assert rotated.status_code == 201, rotated.text
    new_key = rotated.json()["key"]
    assert rotated.json()["rotated_from_id"] == created.json()["id"]
    assert (await http.get("/v1/me", headers=as_key)).status_code == 200  # old key: within the grace period
    assert (await http.get("/v1/me", headers={"authorization": f"Bearer {new_key}"})).status_code == 200
    await asyncio.sleep(2.2)
    expired = await http.get("/v1/me", headers=as_key)
    assert expired.status_code == 401  # old key: after the grace period

    revoked = await http.delete(f"/v1/api-keys/{rotated.json()['id']}", headers=bearer)
    assert revoked.status_code == 204
    after = await http.get("/v1/me", headers={"authorization": f"Bearer {new_key}"})
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "unauthenticated"


async def test_signup_with_a_taken_address_reveals_nothing(
    http: httpx.AsyncClient, smtp_server: SmtpTestServer
) -> None:
    body = {"email": "taken@example.com", "password": PASSWORD}
    first = await http.post("/v1/auth/signup", json=body)
    await asyncio.to_thread(smtp_server.wait_for, "taken@example.com")
    smtp_server.clear()
    second = await http.post("/v1/auth/signup", json=body)
    assert (first.status_code, first.json()) == (second.status_code, second.json())
    notice = await asyncio.to_thread(smtp_server.wait_for, "taken@example.com")
    assert "already has one" in notice.text


async def test_password_reset_revokes_sessions(http: httpx.AsyncClient, smtp_server: SmtpTestServer) -> None:
    email = "reset@example.com"
    await http.post("/v1/auth/signup", json={"email": email, "password": PASSWORD})
    verify = token_from((await asyncio.to_thread(smtp_server.wait_for, email)).text, "/verify-email")
    await http.post("/v1/auth/verify-email", json={"token": verify})
    access = (await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})).json()[
        "access_token"
    ]
    smtp_server.clear()

    assert (await http.post("/v1/auth/password-reset/request", json={"email": email})).status_code == 202
    unknown = await http.post("/v1/auth/password-reset/request", json={"email": "nobody@example.com"})
    assert unknown.status_code == 202  # same answer for an unknown address
    reset = token_from((await asyncio.to_thread(smtp_server.wait_for, email)).text, "/reset-password")
    weak = await http.post("/v1/auth/password-reset/confirm", json={"token": reset, "new_password": "short"})
    assert weak.status_code == 422
    done = await http.post(
        "/v1/auth/password-reset/confirm", json={"token": reset, "new_password": "a brand new passphrase"}
    )
    assert done.status_code == 200, done.text

    assert (await http.get("/v1/me", headers={"authorization": f"Bearer {access}"})).status_code == 401
    assert (await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})).status_code == 401
    fresh = await http.post("/v1/auth/login", json={"email": email, "password": "a brand new passphrase"})
    assert fresh.status_code == 200
    reuse = await http.post(
        "/v1/auth/password-reset/confirm", json={"token": reset, "new_password": "yet another passphrase"}
    )
    assert reuse.status_code == 400
