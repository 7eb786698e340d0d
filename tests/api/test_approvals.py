"""Approvals of gated tool calls: the task waits holding no worker, survives a restart, and runs on exactly as
decided — approved, denied or timed out — with every decision audited. Also role-gated tools and budgets."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from agentic.config import LLMSettings, Settings, WorkerSettings
from agentic.db.models import AuditEvent, Role
from agentic.engine.agent_runner import approval_reason, usable_tools
from agentic.resources import Resources
from tests.api.test_tasks import _wait
from tests.conftest import asgi_client
from tests.support.accounts import Account, make_account, make_org

pytestmark = pytest.mark.usefixtures("backend")

Live = Callable[[], AbstractAsyncContextManager[tuple[httpx.AsyncClient, Resources]]]


@pytest.fixture
def live(settings: Settings) -> Live:
    """Start the platform (API + in-process worker) on this test's database; may be started again later."""
    data_dir = Path(tempfile.mkdtemp(prefix="agentic-approvals-"))
    data_dir.chmod(0o711)  # the sandbox's unprivileged uid must reach the task workspaces
    settings.data_dir = data_dir
    settings.worker = WorkerSettings(
        in_process=True, poll_interval_s=0.02, concurrency=8, reap_interval_s=0.1
    )

    @asynccontextmanager
    async def start() -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
        from agentic.api.app import create_app

        app = create_app(settings, run_workers=True)
        async with LifespanManager(app), asgi_client(app) as client:
            yield client, app.state.resources

    return start


def _agent(script: list[dict[str, Any]], tools: list[dict[str, Any]], **policies: Any) -> dict[str, Any]:
    return {
        "name": "Gated",
        "model": {"provider": "mock", "name": "scripted", "options": {"script": script}},
        "tools": tools,
        "policies": {"max_attempts": 1, **policies},
    }


PRINT = {"tool_calls": [{"name": "python", "arguments": {"code": "print('ran', 6 * 7)"}}]}
DONE = {"text": "done"}


async def _waiting_approval(client: httpx.AsyncClient, task_id: str, account: Account) -> dict[str, Any]:
    for _ in range(400):
        page = (await client.get(f"/v1/tasks/{task_id}/approvals", headers=account.headers)).json()
        task = (await client.get(f"/v1/tasks/{task_id}", headers=account.headers)).json()
        if page["items"] and task["state"] == "waiting":
            return dict(page["items"][0])
        await asyncio.sleep(0.05)
    pytest.fail("the task never waited for an approval")


async def _audit(resources: Resources, action: str) -> list[AuditEvent]:
    async with resources.sessions() as db:
        return list((await db.scalars(select(AuditEvent).where(AuditEvent.action == action))).all())


async def _start_gated(
    client: httpx.AsyncClient, account: Account, agent: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    created = (await client.post("/v1/agents", json=agent, headers=account.headers)).json()
    task = await client.post("/v1/tasks", json={"agent_id": created["id"]}, headers=account.headers)
    assert task.status_code == 201, task.text
    task_id = task.json()["id"]
    return task_id, await _waiting_approval(client, task_id, account)


async def test_approve_after_a_worker_restart_runs_exactly_the_shown_call(live: Live) -> None:
    async with live() as (client, resources):
        async with resources.sessions() as db:
            org = await make_org(db)
            user = await make_account(db, resources, org=org, role=Role.USER)
            other = await make_account(db, resources, org=org, role=Role.USER)
        agent = _agent([PRINT, DONE], [{"name": "python", "needs_approval": True}])
        task_id, approval = await _start_gated(client, user, agent)
        assert approval["status"] == "pending"
        assert approval["tool"] == "python"
        assert approval["arguments"] == {"code": "print('ran', 6 * 7)"}  # exactly what will run
        assert "needs approval" in approval["reason"]
        inbox = (await client.get("/v1/approvals?status=pending", headers=user.headers)).json()["items"]
        assert [a["id"] for a in inbox] == [approval["id"]]
        # Another plain member sees neither the task nor its approvals.
        assert (await client.get("/v1/approvals", headers=other.headers)).json()["items"] == []
        denied = await client.post(
            f"/v1/tasks/{task_id}/approvals/{approval['id']}",
            json={"decision": "approve"},
            headers=other.headers,
        )
        assert denied.status_code == 404
        # The generic signal endpoint cannot bypass the approval (and its audit).
        bypass = await client.post(
            f"/v1/tasks/{task_id}/signals",
            json={"key": approval["step_key"], "payload": {"approved": True}},
            headers=user.headers,
        )
        assert bypass.status_code == 409
        steps = (await client.get(f"/v1/tasks/{task_id}/steps", headers=user.headers)).json()
        assert [s["kind"] for s in steps] == ["llm", "approval"]

    # The whole platform stops and starts again: the wait and its request are in the database.
    async with live() as (client, resources):
        decided = await client.post(
            f"/v1/tasks/{task_id}/approvals/{approval['id']}",
            json={"decision": "approve", "comment": "looks safe"},
            headers=user.headers,
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == "approved"
        assert decided.json()["decided_by_id"] == str(user.user.id)
        done = await _wait(client, task_id, user.headers, timeout_s=60)
        assert done["state"] == "succeeded", done
        assert done["output"]["stop_reason"] == "final"
        # Waiting for the approval neither used nor added an attempt: still "attempt 1 of 1" (issue 13).
        assert (done["attempt"], done["max_attempts"]) == (1, 1)
        steps = (await client.get(f"/v1/tasks/{task_id}/steps", headers=user.headers)).json()
        assert [s["step_key"] for s in steps] == ["llm-1", "approval-1-1", "tool-1-1", "llm-2"]
        assert steps[2]["output"]["stdout"] == "ran 42\n"
        again = await client.post(
            f"/v1/tasks/{task_id}/approvals/{approval['id']}", json={"decision": "deny"}, headers=user.headers
        )
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "approval_decided"
        (record,) = await _audit(resources, "approval.approved")
        assert record.actor_id == user.user.id
        assert record.target_id == task_id
        assert record.details["comment"] == "looks safe"
        assert record.details["tool"] == "python"


async def test_deny_stops_the_run_and_the_tool_never_runs(live: Live) -> None:
    async with live() as (client, resources):
        async with resources.sessions() as db:
            org = await make_org(db)
            user = await make_account(db, resources, org=org, role=Role.USER)
            operator = await make_account(db, resources, org=org, role=Role.OPERATOR)
        agent = _agent([PRINT, DONE], [{"name": "python", "needs_approval": True}])
        task_id, approval = await _start_gated(client, user, agent)
        # An operator may decide on anyone's task.
        decided = await client.post(
            f"/v1/tasks/{task_id}/approvals/{approval['id']}",
            json={"decision": "deny", "comment": "not today"},
            headers=operator.headers,
        )
        assert decided.status_code == 200, decided.text
        done = await _wait(client, task_id, user.headers)
        assert done["state"] == "succeeded"
        assert done["output"]["stop_reason"] == "denied"
        steps = (await client.get(f"/v1/tasks/{task_id}/steps", headers=user.headers)).json()
        assert "tool" not in [s["kind"] for s in steps]
        events = (await client.get(f"/v1/tasks/{task_id}/events", headers=user.headers)).json()["items"]
        (denial,) = [e for e in events if e["type"] == "agent.denied"]
        assert denial["data"] == {"tool": "python", "timed_out": False, "comment": "not today"}
        (record,) = await _audit(resources, "approval.denied")
        assert record.actor_id == operator.user.id


async def test_nobody_deciding_in_time_denies_and_is_audited(live: Live) -> None:
    async with live() as (client, resources):
        async with resources.sessions() as db:
            user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = _agent([PRINT, DONE], [{"name": "python", "needs_approval": True}], approval_timeout_s=1)
        task_id, approval = await _start_gated(client, user, agent)
        done = await _wait(client, task_id, user.headers, timeout_s=30)
        assert done["output"]["stop_reason"] == "denied"
        (listed,) = (await client.get(f"/v1/tasks/{task_id}/approvals", headers=user.headers)).json()["items"]
        assert listed["status"] == "expired"
        assert listed["decided_by_id"] is None
        late = await client.post(
            f"/v1/tasks/{task_id}/approvals/{approval['id']}",
            json={"decision": "approve"},
            headers=user.headers,
        )
        assert late.status_code == 409
        (record,) = await _audit(resources, "approval.expired")
        assert record.actor_type == "system"
        assert record.details["approval_id"] == approval["id"]


async def test_cancelling_a_waiting_task_closes_its_request(live: Live) -> None:
    async with live() as (client, resources):
        async with resources.sessions() as db:
            user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = _agent([PRINT, DONE], [{"name": "python", "needs_approval": True}])
        task_id, _ = await _start_gated(client, user, agent)
        cancelled = await client.post(f"/v1/tasks/{task_id}/cancel", headers=user.headers)
        assert cancelled.json()["state"] == "cancelled"
        (listed,) = (await client.get(f"/v1/tasks/{task_id}/approvals", headers=user.headers)).json()["items"]
        assert listed["status"] == "cancelled"


async def test_argument_rules_gate_only_matching_calls(live: Live) -> None:
    get = {"tool_calls": [{"name": "http_request", "arguments": {"url": "http://169.254.169.254/a"}}]}
    delete = {
        "tool_calls": [
            {"name": "http_request", "arguments": {"method": "DELETE", "url": "http://169.254.169.254/b"}}
        ]
    }
    tools = [{"name": "http_request", "approval_rules": [{"arguments": {"method": "DELETE"}}]}]
    async with live() as (client, resources):
        async with resources.sessions() as db:
            user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        task_id, approval = await _start_gated(client, user, _agent([get, delete, DONE], tools))
        assert approval["arguments"]["method"] == "DELETE"
        assert approval["reason"] == "approval rule 1 matched (method ~ DELETE)"
        steps = (await client.get(f"/v1/tasks/{task_id}/steps", headers=user.headers)).json()
        # The GET ran without asking (and was refused by the SSRF guard, as it should be).
        assert [s["step_key"] for s in steps] == ["llm-1", "tool-1-1", "llm-2", "approval-2-1"]


def test_approval_rules_match_shell_patterns_on_exact_arguments() -> None:
    spec: dict[str, Any] = {
        "name": "http_request",
        "approval_rules": [
            {"arguments": {"url": "https://api.example.com/*", "method": "P*"}},
            {"arguments": {"headers": '*"x-admin"*'}},
        ],
    }
    assert approval_reason(spec, {"url": "https://api.example.com/x", "method": "POST"}) is not None
    assert approval_reason(spec, {"url": "https://api.example.com/x", "method": "GET"}) is None
    assert approval_reason(spec, {"url": "https://other.example/x", "method": "POST"}) is None
    assert approval_reason(spec, {"url": "https://api.example.com/x"}) is None  # a missing argument: no match
    assert approval_reason(spec, {"url": "u", "headers": {"x-admin": "1"}}) is not None  # JSON of non-strings
    assert approval_reason(spec, {"url": "https://api.example.com/x", "method": "post"}) is None  # exact case
    assert approval_reason({"name": "python", "needs_approval": True}, {}) is not None


def test_a_tool_is_offered_only_if_the_allowlist_and_the_role_both_allow_it() -> None:
    config: dict[str, Any] = {
        "tools": [
            {"name": "python", "min_role": "operator"},
            {"name": "http_request"},
            {"name": "web_fetch"},
        ],
        "policies": {"tool_allowlist": ["python", "http_request"]},
    }
    assert set(usable_tools(config, Role.USER)) == {"http_request"}
    assert set(usable_tools(config, Role.OPERATOR)) == {"python", "http_request"}
    assert set(usable_tools(config, Role.ADMIN)) == {"python", "http_request"}
    assert set(usable_tools(config, None)) == {"http_request"}  # no longer a member
    assert set(usable_tools({"tools": config["tools"]}, Role.ADMIN)) == {
        "python",
        "http_request",
        "web_fetch",
    }


async def test_a_tool_above_the_creators_role_is_not_offered_nor_run(live: Live) -> None:
    async with live() as (client, resources):
        async with resources.sessions() as db:
            user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = _agent([PRINT, DONE], [{"name": "python", "min_role": "admin"}])
        created = (await client.post("/v1/agents", json=agent, headers=user.headers)).json()
        task = await client.post("/v1/tasks", json={"agent_id": created["id"]}, headers=user.headers)
        done = await _wait(client, task.json()["id"], user.headers, timeout_s=30)
        steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=user.headers)).json()
        (tool,) = [s for s in steps if s["kind"] == "tool"]
        assert tool["output"]["error"]["code"] == "tool_not_allowed"
        assert "stdout" not in tool["output"]


@pytest.mark.parametrize(
    ("policies", "prices"),
    [
        ({"max_cost_per_run_usd": 0.5}, {"mock/scripted": {"input": 1_000_000, "output": 1_000_000}}),
        ({"max_tokens_per_run": 3}, {}),
    ],
    ids=["cost", "tokens"],
)
async def test_a_run_stops_when_its_budget_is_spent(
    live: Live, settings: Settings, policies: dict[str, Any], prices: dict[str, Any]
) -> None:
    # Priced at $1 per token, the first call already costs more than $0.50.
    settings.llm = LLMSettings(prices=prices)
    async with live() as (client, resources):
        async with resources.sessions() as db:
            user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = _agent([PRINT, PRINT, DONE], [{"name": "python"}], **policies)
        created = (await client.post("/v1/agents", json=agent, headers=user.headers)).json()
        task = await client.post("/v1/tasks", json={"agent_id": created["id"]}, headers=user.headers)
        done = await _wait(client, task.json()["id"], user.headers, timeout_s=30)
        assert done["output"]["stop_reason"] == "budget_exceeded", done
        assert done["output"]["steps"] == 1
        if prices:
            assert done["output"]["usage"]["cost_usd"] > 0.5
        steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=user.headers)).json()
        assert [s["kind"] for s in steps] == ["llm"]


async def test_editing_the_agent_mid_run_does_not_change_the_running_task(live: Live) -> None:
    async with live() as (client, resources):
        async with resources.sessions() as db:
            user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = _agent([PRINT, {"text": "answer of version 1"}], [{"name": "python", "needs_approval": True}])
        created = (await client.post("/v1/agents", json=agent, headers=user.headers)).json()
        task = (await client.post("/v1/tasks", json={"agent_id": created["id"]}, headers=user.headers)).json()
        approval = await _waiting_approval(client, task["id"], user)
        # Mid-run, the agent gets a new model script, no tools and a different system prompt: version 2.
        edited = await client.patch(
            f"/v1/agents/{created['id']}",
            json={
                "model": {"provider": "mock", "name": "scripted", "options": {"script": [{"text": "v2"}]}},
                "tools": [],
                "system_prompt": "You are version 2.",
            },
            headers=user.headers,
        )
        assert edited.json()["latest_version"] == 2
        await client.post(
            f"/v1/tasks/{task['id']}/approvals/{approval['id']}",
            json={"decision": "approve"},
            headers=user.headers,
        )
        done = await _wait(client, task["id"], user.headers, timeout_s=60)
        assert done["agent_version_id"] == created["version_id"]  # pinned to version 1
        assert done["output"]["text"] == "answer of version 1"
        steps = (await client.get(f"/v1/tasks/{task['id']}/steps", headers=user.headers)).json()
        assert [s["kind"] for s in steps] == ["llm", "approval", "tool", "llm"]  # version 1's tool still ran
        # A new task runs version 2.
        fresh = (
            await client.post("/v1/tasks", json={"agent_id": created["id"]}, headers=user.headers)
        ).json()
        assert (await _wait(client, fresh["id"], user.headers))["output"]["text"] == "v2"
