"""First run: the one-time setup link, or the admin from the environment."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.api.app import create_app
from agentic.config import AdminSettings, Environment, LLMSettings, Settings, SmtpSettings
from agentic.db.models import AuditEvent, Membership, Organization, Role, User
from agentic.errors import ConfigurationError
from agentic.services.setup import setup_token
from tests.conftest import asgi_client

pytestmark = pytest.mark.usefixtures("backend")

PASSWORD = "correct horse battery staple"


def _body(settings: Settings, **overrides: Any) -> dict[str, Any]:
    body = {
        "token": setup_token(settings.secret_key()),
        "email": "Founder@Example.com",
        "password": PASSWORD,
        "organization_name": "Zürich Robotics AG",
    }
    body.update(overrides)
    return body


async def test_fresh_install_needs_setup(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/setup")).json() == {"needs_setup": True}
    info = (await client.get("/v1/system/info")).json()
    assert info["needs_setup"] is True
    assert info["database_backend"] in {"sqlite", "postgresql"}


async def test_setup_link_is_printed_on_first_start(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app):
        pass
    err = capsys.readouterr().err
    assert f"/setup?token={setup_token(settings.secret_key())}" in err


async def test_setup_creates_admin_org_and_audit(
    client: httpx.AsyncClient, settings: Settings, session: AsyncSession
) -> None:
    response = await client.post("/v1/setup", json=_body(settings), headers={"x-request-id": "req-setup"})
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["email"] == "founder@example.com"

    user = await session.scalar(select(User))
    assert user is not None
    assert str(user.id) == result["user_id"]
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert user.is_platform_admin
    org = await session.scalar(select(Organization))
    assert org is not None
    assert org.slug == "zurich-robotics-ag"
    membership = await session.scalar(select(Membership))
    assert membership is not None
    assert (membership.user_id, membership.org_id, membership.role) == (user.id, org.id, Role.ADMIN)
    audit = await session.scalar(select(AuditEvent))
    assert audit is not None
    assert audit.action == "setup.first_admin_created"
    assert audit.request_id == "req-setup"
    assert audit.org_id == org.id

    assert (await client.get("/v1/setup")).json() == {"needs_setup": False}


async def test_setup_works_only_once(client: httpx.AsyncClient, settings: Settings) -> None:
    assert (await client.post("/v1/setup", json=_body(settings))).status_code == 201
    again = await client.post("/v1/setup", json=_body(settings, email="second@example.com"))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_set_up"


async def test_wrong_token_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post("/v1/setup", json=_body(settings, token="guess"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_setup_token"
    assert (await client.get("/v1/setup")).json() == {"needs_setup": True}


async def test_weak_password_is_refused_with_the_field(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post("/v1/setup", json=_body(settings, password="short"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"][0]["loc"] == ["body", "password"]


async def test_password_equal_to_email_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post(
        "/v1/setup", json=_body(settings, email="longaddress@example.com", password="LongAddress@example.com")
    )
    assert response.status_code == 422


async def test_admin_from_environment(
    settings: Settings, session: AsyncSession, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    settings.admin = AdminSettings(
        email="ops@example.com", password=SecretStr(PASSWORD), organization_name="Ops"
    )
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        assert (await client.get("/v1/setup")).json() == {"needs_setup": False}
    user = await session.scalar(select(User))
    assert user is not None
    assert user.email == "ops@example.com"
    audit = await session.scalar(select(AuditEvent))
    assert audit is not None
    assert audit.details["via"] == "environment"
    assert PASSWORD not in str(log_lines())


async def test_admin_from_environment_with_weak_password_stops_startup(settings: Settings) -> None:
    settings.admin = AdminSettings(email="ops@example.com", password=SecretStr("short"))
    app = create_app(settings, run_workers=False)
    with pytest.raises(ConfigurationError, match="AGENTIC_ADMIN_"):
        async with LifespanManager(app):
            pass


async def test_restart_after_setup_prints_no_link(
    client: httpx.AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (await client.post("/v1/setup", json=_body(settings))).status_code == 201
    capsys.readouterr()
    app = create_app(settings, run_workers=False)
    async with LifespanManager(app):
        pass
    assert "setup?token" not in capsys.readouterr().err


async def test_system_info_says_where_mail_goes_and_which_providers_have_a_key(settings: Settings) -> None:
    # What the console needs to tell a newcomer (their mail is in the outbox; which providers work), and no
    # more: no host, no key.
    async def info(configured: Settings) -> dict[str, Any]:
        app = create_app(configured, run_workers=False)
        async with LifespanManager(app), asgi_client(app) as client:
            body: dict[str, Any] = (await client.get("/v1/system/info")).json()
            return body

    bare = await info(settings)
    assert bare["mail_delivery"] == "outbox"
    assert bare["llm_providers"] == ["mock"]

    settings.smtp = SmtpSettings(host="mail.internal.example", password=SecretStr("smtp-secret"))
    settings.llm = LLMSettings(anthropic_api_key=SecretStr("sk-ant-secret"))
    configured = await info(settings)
    assert configured["mail_delivery"] == "smtp"
    assert configured["llm_providers"] == ["mock", "anthropic"]

    # Production without a mail server sends nothing and keeps nothing (issue 15), unless allowed to.
    settings.smtp = SmtpSettings(host=None)
    settings.env = Environment.PRODUCTION
    assert (await info(settings))["mail_delivery"] == "disabled"
    settings.smtp = SmtpSettings(host=None, allow_outbox_in_production=True)
    assert (await info(settings))["mail_delivery"] == "outbox"
    text = str(configured)
    assert "mail.internal.example" not in text
    assert "secret" not in text


@pytest.mark.parametrize(
    ("address", "usable"),
    [
        ("Ops@Example.COM", True),
        ("first.last+agentic@sub.example.org", True),
        # Special-use names: the API's address check refuses them, so first start must too.
        ("admin@a.test", False),
        ("root@localhost", False),
        ("it@corp.local", False),
    ],
)
async def test_what_first_start_accepts_login_accepts(settings: Settings, address: str, usable: bool) -> None:
    # One address rule for AGENTIC_ADMIN_EMAIL and login: an administrator created at first start can sign in;
    # an address login would refuse stops the start instead, saying why, before anything is created.
    settings.admin = AdminSettings(email=address, password=SecretStr(PASSWORD))
    app = create_app(settings, run_workers=False)
    if not usable:
        with pytest.raises(ConfigurationError, match=r"AGENTIC_ADMIN_.*is not a usable email address"):
            async with LifespanManager(app):
                pass
        settings.admin = AdminSettings(email=None, password=None)
        app = create_app(settings, run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        login = await client.post("/v1/auth/login", json={"email": address, "password": PASSWORD})
        if not usable:
            assert login.status_code == 422, login.text
            assert (await client.get("/v1/setup")).json() == {"needs_setup": True}
            return
        assert login.status_code == 200, login.text
        me = await client.get("/v1/me", headers={"authorization": f"Bearer {login.json()['access_token']}"})
        assert me.json()["email"] == address.lower()


async def test_setup_link_and_login_share_the_address_rule(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    refused = await client.post("/v1/setup", json=_body(settings, email="admin@a.test"))
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["loc"] == ["body", "email"]
    created = await client.post("/v1/setup", json=_body(settings, email="Admin@Example.com"))
    assert created.status_code == 201, created.text
    login = await client.post("/v1/auth/login", json={"email": "admin@example.com", "password": PASSWORD})
    assert login.status_code == 200, login.text
