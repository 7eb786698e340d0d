"""Webhooks end to end with a real receiving HTTP server: Standard Webhooks signatures (checked with the
reference `standardwebhooks` library), a 500 retried, the delivery log, redelivery, SSRF policy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from asgi_lifespan import LifespanManager
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as ReferenceVerifier

from agentic.config import Environment, SecuritySettings, Settings, WebhookSettings, WorkerSettings
from agentic.db.models import Role, Webhook
from agentic.resources import Resources
from agentic.tools.http import OutboundRefused
from agentic.webhooks import signing
from agentic.webhooks.policy import check_webhook_url
from tests.api.test_tasks import _wait
from tests.conftest import asgi_client
from tests.support.accounts import Account, make_account, make_org
from tests.support.local_server import serve

pytestmark = pytest.mark.usefixtures("backend")


@dataclass
class Receiver:
    """A real HTTP server that records what it receives and answers with the statuses it is told."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int, timeout_s: float = 20) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def hook(request: web.Request) -> web.Response:
        state.received.append((dict(request.headers), await request.read()))
        state.arrived.set()
        status = state.statuses.pop(0) if state.statuses else 204
        return web.Response(status=status, text="nope" if status >= 500 else "")

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serve(app) as port:
        state.url = f"http://127.0.0.1:{port}/hook"
        yield state


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    settings.worker = WorkerSettings(
        in_process=True, poll_interval_s=0.02, concurrency=8, reap_interval_s=0.1
    )
    # Retries within the test's patience; production waits 5 s, 5 min, 30 min, … between attempts.
    settings.webhooks = WebhookSettings(retry_schedule_s=[0.2, 0.2], poll_interval_s=0.1)
    from agentic.api.app import create_app

    app = create_app(settings, run_workers=True)
    async with LifespanManager(app), asgi_client(app) as client:
        yield client, app.state.resources


async def _agent(client: httpx.AsyncClient, account: Account, **extra: Any) -> str:
    body = {"name": "Hooked", "model": {"provider": "mock", "name": "echo"}, "policies": {"max_attempts": 1}}
    created = await client.post("/v1/agents", json=body | extra, headers=account.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _hook(
    client: httpx.AsyncClient, account: Account, agent_id: str, url: str, events: list[str]
) -> dict[str, Any]:
    created = await client.post(
        f"/v1/agents/{agent_id}/webhooks", json={"url": url, "events": events}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _settled(client: httpx.AsyncClient, account: Account, base: str) -> dict[str, Any]:
    """The webhook's only delivery, once it is no longer pending."""
    for _ in range(200):
        (delivery,) = (await client.get(f"{base}/deliveries", headers=account.headers)).json()["items"]
        if delivery["status"] != "pending":
            return dict(delivery)
        await asyncio.sleep(0.05)
    pytest.fail("the delivery never settled")


async def test_signed_delivery_retried_after_a_500_with_its_log_and_redelivery(
    live: tuple[httpx.AsyncClient, Resources], receiver: Receiver
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        owner = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    agent_id = await _agent(client, owner)
    hook = await _hook(client, owner, agent_id, receiver.url, ["task.succeeded", "task.failed"])
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    # Shown once: never listed or read back, and stored encrypted.
    listed = (await client.get(f"/v1/agents/{agent_id}/webhooks", headers=owner.headers)).json()
    assert "secret" not in listed[0]
    async with resources.sessions() as db:
        stored = (await db.scalars(select(Webhook.secret_encrypted))).one()
    assert secret not in stored
    assert secret.removeprefix("whsec_") not in stored

    receiver.statuses = [500]  # the first attempt fails, the retry succeeds
    task = await client.post(
        "/v1/tasks", json={"agent_id": agent_id, "input": {"message": "hello hook"}}, headers=owner.headers
    )
    done = await _wait(client, task.json()["id"], owner.headers)
    assert done["state"] == "succeeded"
    await receiver.wait_for(2)

    (first_headers, first_body), (headers, body) = receiver.received
    # Verified by the reference implementation of the scheme, not only by our own code.
    payload = ReferenceVerifier(secret).verify(body, {k.lower(): v for k, v in headers.items()})
    signing.verify(secret, headers=headers, body=body)
    assert payload["type"] == "task.succeeded"
    assert payload["data"]["task_id"] == done["id"]
    assert payload["data"]["state"] == "succeeded"
    assert payload["data"]["output"]["text"] == "hello hook"
    assert first_headers["webhook-id"] == headers["webhook-id"]  # the same message, attempted twice
    assert first_body == body
    with pytest.raises(signing.InvalidSignature):
        signing.verify(secret, headers=headers, body=body.replace(b"hello", b"HELLO"))
    with pytest.raises(signing.InvalidSignature):
        signing.verify(signing.new_secret(), headers=headers, body=body)

    base = f"/v1/agents/{agent_id}/webhooks/{hook['id']}"
    delivery = await _settled(client, owner, base)
    assert delivery["status"] == "succeeded"
    assert delivery["attempts"] == 2
    assert delivery["message_id"] == headers["webhook-id"]
    detail = (await client.get(f"{base}/deliveries/{delivery['id']}", headers=owner.headers)).json()
    assert [(a["number"], a["status_code"]) for a in detail["attempt_log"]] == [(1, 500), (2, 204)]
    assert detail["attempt_log"][0]["response_body"] == "nope"
    assert detail["payload"] == json.loads(body)

    again = await client.post(f"{base}/deliveries/{delivery['id']}/redeliver", headers=owner.headers)
    assert again.status_code == 202
    await receiver.wait_for(3)
    assert receiver.received[2][0]["webhook-id"] == headers["webhook-id"]
    for _ in range(100):
        detail = (await client.get(f"{base}/deliveries/{delivery['id']}", headers=owner.headers)).json()
        if len(detail["attempt_log"]) == 3:
            break
        await asyncio.sleep(0.05)
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 204, 204]


async def test_a_receiver_that_keeps_failing_ends_failed_after_the_schedule(
    live: tuple[httpx.AsyncClient, Resources], receiver: Receiver
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        owner = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    agent_id = await _agent(client, owner)
    hook = await _hook(client, owner, agent_id, receiver.url, ["task.succeeded"])
    receiver.statuses = [500, 503, 500, 500]
    task = await client.post("/v1/tasks", json={"agent_id": agent_id}, headers=owner.headers)
    await _wait(client, task.json()["id"], owner.headers)
    await receiver.wait_for(3)
    delivery = await _settled(client, owner, f"/v1/agents/{agent_id}/webhooks/{hook['id']}")
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 3  # the first attempt and the two retries of the schedule
    assert delivery["last_status_code"] == 500
    await asyncio.sleep(0.5)
    assert len(receiver.received) == 3  # nothing more after the schedule ran out


async def test_other_events_and_subscriptions(
    live: tuple[httpx.AsyncClient, Resources], receiver: Receiver
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        owner = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    script = [{"tool_calls": [{"name": "python", "arguments": {"code": "print(1)"}}]}, {"text": "ok"}]
    agent_id = await _agent(
        client,
        owner,
        model={"provider": "mock", "name": "scripted", "options": {"script": script}},
        tools=[{"name": "python", "needs_approval": True}],
    )
    await _hook(client, owner, agent_id, receiver.url, ["task.waiting_for_approval", "task.cancelled"])
    task = (await client.post("/v1/tasks", json={"agent_id": agent_id}, headers=owner.headers)).json()
    await receiver.wait_for(1)
    waiting = json.loads(receiver.received[0][1])
    assert waiting["type"] == "task.waiting_for_approval"
    assert waiting["data"]["approval"]["tool"] == "python"
    assert waiting["data"]["approval"]["arguments"] == {"code": "print(1)"}
    await client.post(f"/v1/tasks/{task['id']}/cancel", headers=owner.headers)
    await receiver.wait_for(2)
    assert json.loads(receiver.received[1][1])["type"] == "task.cancelled"
    # task.succeeded is not subscribed: a successful run sends nothing.
    other = await client.post(
        "/v1/tasks",
        json={"agent_id": await _agent(client, owner)},
        headers=owner.headers,
    )
    await _wait(client, other.json()["id"], owner.headers)
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 2


async def test_webhook_urls_pass_the_ssrf_policy(live: tuple[httpx.AsyncClient, Resources]) -> None:
    client, resources = live
    async with resources.sessions() as db:
        org = await make_org(db)
        owner = await make_account(db, resources, org=org, role=Role.USER)
        other = await make_account(db, resources, org=org, role=Role.USER)
    agent_id = await _agent(client, owner)
    for url in (
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hook",
        "http://[::ffff:169.254.169.254]/x",
        "http://0x7f000001:22/",  # loopback, but port 22 is not the receiver's
        "ftp://example.com/hook",
        "https://user:pass@example.com/hook",
    ):
        refused = await client.post(
            f"/v1/agents/{agent_id}/webhooks",
            json={"url": url, "events": ["task.succeeded"]},
            headers=owner.headers,
        )
        assert refused.status_code == 422, (url, refused.text)
        assert refused.json()["error"]["code"] == "invalid_webhook_url"
    # Someone who may not edit the agent may not see or add its webhooks.
    forbidden = await client.get(f"/v1/agents/{agent_id}/webhooks", headers=other.headers)
    assert forbidden.status_code == 403


def test_loopback_receivers_only_outside_production() -> None:
    production = Settings(
        env=Environment.PRODUCTION,
        security=SecuritySettings(secret_key="x" * 64),
        _env_file=None,
    )
    for url in ("http://127.0.0.1:9000/hook", "https://localhost/hook", "http://example.com/hook"):
        with pytest.raises(OutboundRefused):
            check_webhook_url(production, url)
    assert check_webhook_url(production, "https://example.com/hook") == "https://example.com/hook"
    dev = Settings(_env_file=None)
    assert check_webhook_url(dev, "http://127.0.0.1:9000/hook") == "http://127.0.0.1:9000/hook"
