"""Organisations' provider keys: encrypted at rest, never returned, used by the gateway, SSRF-checked."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.config import Environment
from agentic.db.models import Role
from agentic.llm import CallContext, LLMRequest, Message, Target
from agentic.resources import Resources
from tests.support.accounts import Account, make_account, make_org

pytestmark = pytest.mark.usefixtures("backend")

KEY = "sk-live-abcdefghijklmnop1234"


@pytest.fixture
async def admin(client: httpx.AsyncClient, db: AsyncSession, resources: Resources) -> Account:
    return await make_account(db, resources, org=await make_org(db), role=Role.ADMIN)


async def test_key_is_encrypted_and_never_returned(
    client: httpx.AsyncClient, admin: Account, db: AsyncSession, resources: Resources
) -> None:
    created = await client.post(
        "/v1/provider-credentials",
        json={"provider": "openai", "api_key": KEY, "base_url": "http://127.0.0.1:9/v1"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["key_hint"] == "…1234"
    assert KEY not in created.text
    listed = await client.get("/v1/provider-credentials", headers=admin.headers)
    assert KEY not in listed.text
    assert [c["provider"] for c in listed.json()] == ["openai"]

    stored = (await db.execute(text("SELECT encrypted_api_key FROM provider_credentials"))).scalar_one()
    assert KEY not in stored
    # The gateway decrypts it for this organisation only.
    found = await resources.credentials(admin.org.id, "openai", None)
    assert found is not None
    assert (found.api_key, found.base_url, found.source) == (KEY, "http://127.0.0.1:9/v1", "organization")
    other = await make_org(db)
    assert await resources.credentials(other.id, "openai", None) is None

    duplicate = await client.post(
        "/v1/provider-credentials", json={"provider": "openai", "api_key": KEY}, headers=admin.headers
    )
    assert duplicate.status_code == 409
    deleted = await client.delete(f"/v1/provider-credentials/{created.json()['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    assert await resources.credentials(admin.org.id, "openai", None) is None


async def test_ciphertext_is_bound_to_its_organisation(resources: Resources) -> None:
    import uuid

    from agentic.security.encryption import DecryptionError

    sealed = resources.secret_box.encrypt(KEY, owner=str(uuid.uuid4()))
    with pytest.raises(DecryptionError):
        resources.secret_box.decrypt(sealed, owner=str(uuid.uuid4()))


async def test_org_key_is_used_and_usage_is_recorded(
    client: httpx.AsyncClient, admin: Account, db: AsyncSession, resources: Resources
) -> None:
    """The gateway answers with the mock and meters it against the organisation."""
    result = await resources.llm.complete(
        LLMRequest(messages=(Message("user", "count these four words"),)),
        targets=[Target("mock", "echo")],
        context=CallContext(org_id=admin.org.id, step_key="s1"),
    )
    assert result.response.content == "count these four words"
    row = (
        await db.execute(
            text("SELECT provider, model, input_tokens, output_tokens, outcome FROM usage_records")
        )
    ).one()
    assert tuple(row) == ("mock", "echo", 4, 4, "ok")


async def test_internal_base_urls_are_refused_in_production(
    client: httpx.AsyncClient, admin: Account, resources: Resources
) -> None:
    resources.settings.env = Environment.PRODUCTION
    try:
        for url in (
            "http://169.254.169.254/latest",
            "http://127.0.0.1:11434/v1",
            "http://10.0.0.5/v1",
            "http://[::1]/",
        ):
            response = await client.post(
                "/v1/provider-credentials",
                json={"provider": "openai", "api_key": KEY, "base_url": url},
                headers=admin.headers,
            )
            assert response.status_code == 422, url
            assert response.json()["error"]["details"][0]["loc"] == ["body", "base_url"]
        bad_scheme = await client.post(
            "/v1/provider-credentials",
            json={"provider": "openai", "api_key": KEY, "base_url": "file:///etc/passwd"},
            headers=admin.headers,
        )
        assert bad_scheme.status_code == 422
    finally:
        resources.settings.env = Environment.TEST
