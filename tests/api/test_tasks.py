"""Tasks over HTTP: run an agent, follow its events (with resume), idempotency, cancel, visibility, DLQ."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.api.app import create_app
from agentic.config import Settings, WorkerSettings
from agentic.db.models import Agent, AgentVersion, Role, Task, TaskState
from agentic.resources import Resources
from tests.conftest import asgi_client
from tests.support.accounts import Account, make_account, make_org

pytestmark = pytest.mark.usefixtures("backend")


async def make_agent(
    db: AsyncSession,
    account: Account,
    model: dict[str, Any] | None = None,
    policies: dict[str, Any] | None = None,
) -> Agent:
    agent = Agent(org_id=account.org.id, owner_id=account.user.id, name="Echo", latest_version=1)
    db.add(agent)
    await db.flush()
    db.add(
        AgentVersion(
            org_id=account.org.id,
            agent_id=agent.id,
            version=1,
            config={
                "model": model or {"provider": "mock", "name": "echo", "options": {"tokens_per_second": 400}},
                "system_prompt": "Repeat.",
                "policies": {"max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.02}
                | (policies or {}),
            },
        )
    )
    await db.commit()
    return agent


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    """The app with in-process workers, polling fast."""
    settings.worker = WorkerSettings(
        in_process=True, poll_interval_s=0.02, concurrency=8, reap_interval_s=0.2
    )
    app = create_app(settings, run_workers=True)
    async with LifespanManager(app), asgi_client(app) as client:
        yield client, app.state.resources


async def _wait(
    client: httpx.AsyncClient, task_id: str, headers: dict[str, str], timeout_s: float = 20
) -> dict[str, Any]:
    for _ in range(int(timeout_s / 0.05)):
        body: dict[str, Any] = (await client.get(f"/v1/tasks/{task_id}", headers=headers)).json()
        if body["state"] in ("succeeded", "failed", "cancelled", "dead"):
            return body
        await asyncio.sleep(0.05)
    pytest.fail(f"task {task_id} did not finish")


async def test_run_an_agent_and_follow_its_events(live: tuple[httpx.AsyncClient, Resources]) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = await make_agent(db, user)
    created = await client.post(
        "/v1/tasks",
        json={"agent_id": str(agent.id), "input": {"message": "one two three four five"}},
        headers=user.headers,
    )
    assert created.status_code == 201, created.text
    # Queued, or already running: an idle in-process worker takes a new task in the creating transaction.
    assert created.json()["state"] in ("queued", "running")
    done = await _wait(client, created.json()["id"], user.headers)
    assert done["state"] == "succeeded", done
    assert done["output"]["text"] == "one two three four five"

    task_id = done["id"]
    page = (await client.get(f"/v1/tasks/{task_id}/events", headers=user.headers)).json()
    types = [e["type"] for e in page["items"]]
    assert types[0] == "task.created"
    assert types[-1] == "task.succeeded"
    assert "llm.tokens" in types
    seqs = [e["seq"] for e in page["items"]]
    assert seqs == list(range(1, len(seqs) + 1))
    streamed = "".join(e["data"]["text"] for e in page["items"] if e["type"] == "llm.tokens")
    assert streamed == "one two three four five"

    # Server-Sent Events, resumed after event 2: exactly the missed events, in order.
    sse = await client.get(
        f"/v1/tasks/{task_id}/events",
        headers={**user.headers, "accept": "text/event-stream", "last-event-id": "2"},
    )
    assert sse.headers["content-type"].startswith("text/event-stream")
    ids = [int(line[4:]) for line in sse.text.splitlines() if line.startswith("id: ")]
    assert ids == seqs[2:]
    data = [json.loads(line[6:]) for line in sse.text.splitlines() if line.startswith("data: ")]
    assert [d["seq"] for d in data] == ids

    paged = (
        await client.get(f"/v1/tasks/{task_id}/events", params={"after": 1, "limit": 2}, headers=user.headers)
    ).json()
    assert [e["seq"] for e in paged["items"]] == [2, 3]
    assert paged["next_after"] == 3

    steps = (await client.get(f"/v1/tasks/{task_id}/steps", headers=user.headers)).json()
    assert [(s["step_key"], s["kind"], s["status"]) for s in steps] == [("llm-1", "llm", "succeeded")]
    attempts = (await client.get(f"/v1/tasks/{task_id}/attempts", headers=user.headers)).json()
    assert [a["status"] for a in attempts] == ["succeeded"]
    async with resources.sessions() as db:
        usage = (await db.execute(text("SELECT provider, model, outcome FROM usage_records"))).all()
    assert [tuple(row) for row in usage] == [("mock", "echo", "ok")]


async def test_failing_model_retries_then_dead_and_operator_requeues(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        org = await make_org(db)
        user = await make_account(db, resources, org=org, role=Role.USER)
        operator = await make_account(db, resources, org=org, role=Role.OPERATOR)
        agent = await make_agent(
            db, user, {"provider": "mock", "name": "fixed", "options": {"fail": {"status": 500}}}
        )
    resources.llm.settings = resources.llm.settings.model_copy(update={"max_retries": 0})
    created = (await client.post("/v1/tasks", json={"agent_id": str(agent.id)}, headers=user.headers)).json()
    done = await _wait(client, created["id"], user.headers)
    assert done["state"] == "dead"
    assert done["attempt"] == 2

    assert (await client.get("/v1/dead-letters", headers=user.headers)).status_code == 403
    dead = (await client.get("/v1/dead-letters", headers=operator.headers)).json()
    assert [t["id"] for t in dead["items"]] == [done["id"]]
    requeued = await client.post(f"/v1/dead-letters/{done['id']}/requeue", headers=operator.headers)
    assert requeued.status_code == 200
    assert requeued.json()["state"] in ("queued", "running")
    again = await _wait(client, done["id"], user.headers)
    assert again["state"] == "dead"
    assert (
        await client.delete(f"/v1/dead-letters/{done['id']}", headers=operator.headers)
    ).status_code == 204
    assert (await client.get(f"/v1/tasks/{done['id']}", headers=operator.headers)).status_code == 404


async def test_the_llm_error_class_meets_the_agents_retry_policy(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = await make_agent(
            db,
            user,
            {"provider": "mock", "name": "fixed", "options": {"fail": {"status": 500}}},
            {"max_attempts": 5, "non_retryable_errors": ["provider_unavailable"]},
        )
    resources.llm.settings = resources.llm.settings.model_copy(update={"max_retries": 0})
    created = (await client.post("/v1/tasks", json={"agent_id": str(agent.id)}, headers=user.headers)).json()
    done = await _wait(client, created["id"], user.headers)
    assert (done["state"], done["attempt"]) == ("failed", 1)
    assert done["error"]["code"] == "provider_unavailable"


async def test_every_attempts_log_lines_carry_the_creating_requests_trace(
    live: tuple[httpx.AsyncClient, Resources], log_lines: Any
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = await make_agent(db, user)
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    created = await client.post(
        "/v1/tasks",
        json={"agent_id": str(agent.id), "input": {"message": "hi"}},
        headers={**user.headers, "traceparent": traceparent, "x-request-id": "req-trace-1"},
    )
    body = created.json()
    assert (body["traceparent"], body["request_id"]) == (traceparent, "req-trace-1")
    assert (await _wait(client, body["id"], user.headers))["state"] == "succeeded"
    attempt_lines = [line for line in log_lines() if line.get("task_id") == body["id"]]
    assert any(line["event"] == "engine.attempt_started" for line in attempt_lines)
    for line in attempt_lines:
        assert line["request_id"] == "req-trace-1"
        assert line["traceparent"] == traceparent
        assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"

    # An invalid header is ignored (W3C), and a task created without one starts its own trace.
    for header in ({"traceparent": "00-zz-bad"}, {}):
        other = (
            await client.post(
                "/v1/tasks", json={"agent_id": str(agent.id)}, headers={**user.headers, **header}
            )
        ).json()
        assert other["traceparent"].startswith("00-")
        assert other["traceparent"] != traceparent
        assert len(other["traceparent"]) == 55


@pytest.fixture
async def user(client: httpx.AsyncClient, db: AsyncSession, resources: Resources) -> Account:
    return await make_account(db, resources, org=await make_org(db), role=Role.USER)


async def test_idempotency_key(client: httpx.AsyncClient, db: AsyncSession, user: Account) -> None:
    agent = await make_agent(db, user)
    body = {"agent_id": str(agent.id), "input": {"message": "hi"}}
    headers = {**user.headers, "idempotency-key": "order-42"}
    first = await client.post("/v1/tasks", json=body, headers=headers)
    replay = await client.post("/v1/tasks", json=body, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 200)
    assert first.json()["id"] == replay.json()["id"]
    conflict = await client.post("/v1/tasks", json={**body, "input": {"message": "other"}}, headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    no_key = [
        (await client.post("/v1/tasks", json=body, headers=user.headers)).json()["id"] for _ in range(2)
    ]
    assert len(set(no_key)) == 2


async def test_cancel_visibility_and_bad_input(
    client: httpx.AsyncClient, db: AsyncSession, resources: Resources, user: Account
) -> None:
    agent = await make_agent(db, user)
    task = (await client.post("/v1/tasks", json={"agent_id": str(agent.id)}, headers=user.headers)).json()
    colleague = await make_account(db, resources, org=user.org, role=Role.USER)
    operator = await make_account(db, resources, org=user.org, role=Role.OPERATOR)
    assert (await client.get(f"/v1/tasks/{task['id']}", headers=colleague.headers)).status_code == 404
    assert (await client.get(f"/v1/tasks/{task['id']}", headers=operator.headers)).status_code == 200
    assert (await client.get("/v1/tasks", headers=colleague.headers)).json()["items"] == []
    assert [t["id"] for t in (await client.get("/v1/tasks", headers=operator.headers)).json()["items"]] == [
        task["id"]
    ]

    cancelled = await client.post(f"/v1/tasks/{task['id']}/cancel", headers=user.headers)
    assert cancelled.json()["state"] == "cancelled"
    again = await client.post(f"/v1/tasks/{task['id']}/cancel", headers=user.headers)
    assert again.status_code == 409

    unknown_agent = await client.post("/v1/tasks", json={"agent_id": str(task["id"])}, headers=user.headers)
    assert unknown_agent.status_code == 404
    naive = await client.post(
        "/v1/tasks", json={"agent_id": str(agent.id), "run_at": "2030-01-01T00:00:00"}, headers=user.headers
    )
    assert naive.status_code == 422


async def test_running_task_cancel_is_flagged(
    client: httpx.AsyncClient, db: AsyncSession, user: Account
) -> None:
    agent = await make_agent(db, user)
    task = (await client.post("/v1/tasks", json={"agent_id": str(agent.id)}, headers=user.headers)).json()
    await db.execute(update(Task).values(state=TaskState.RUNNING, lease_owner="w", attempt=1))
    await db.commit()
    response = await client.post(f"/v1/tasks/{task['id']}/cancel", headers=user.headers)
    assert response.json()["state"] == "running"
    assert response.json()["cancel_requested"] is True


async def _running_task(
    live: tuple[httpx.AsyncClient, Resources], *, latency_ms: int
) -> tuple[Account, dict[str, Any]]:
    """A new user's task of a slow mock model, once it is running (inside its LLM step)."""
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        model = {"provider": "mock", "name": "fixed", "options": {"latency_ms": latency_ms}}
        agent = await make_agent(db, user, model)
    task = (await client.post("/v1/tasks", json={"agent_id": str(agent.id)}, headers=user.headers)).json()
    for _ in range(200):
        if (await client.get(f"/v1/tasks/{task['id']}", headers=user.headers)).json()["state"] == "running":
            break
        await asyncio.sleep(0.02)
    return user, task


async def test_a_cancel_signal_nobody_requested_cancels_nothing(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    """Signals are hints (issue 15): whoever can publish on the signal transport cannot cancel a task; the
    worker cancels only what the database says was requested."""
    from agentic.engine.signals import CANCEL

    client, resources = live
    user, task = await _running_task(live, latency_ms=800)
    resources.signals.emit(CANCEL, task["id"])  # forged: no cancellation was requested
    await asyncio.sleep(0.3)
    assert (await client.get(f"/v1/tasks/{task['id']}", headers=user.headers)).json()["state"] == "running"
    done = await _wait(client, task["id"], user.headers, timeout_s=30)
    assert done["state"] == "succeeded", done


@pytest.mark.usefixtures("no_gc_pauses")
async def test_cancel_stops_a_running_task_within_a_second(live: tuple[httpx.AsyncClient, Resources]) -> None:
    client, _resources = live
    user, task = await _running_task(live, latency_ms=60_000)  # the answer would take a minute to arrive
    await asyncio.sleep(0.2)  # well inside the LLM step
    started = asyncio.get_running_loop().time()
    await client.post(f"/v1/tasks/{task['id']}/cancel", headers=user.headers)
    while (await client.get(f"/v1/tasks/{task['id']}", headers=user.headers)).json()["state"] != "cancelled":
        assert asyncio.get_running_loop().time() - started < 1.0, "not cancelled within 1 s"
        await asyncio.sleep(0.02)
    elapsed = asyncio.get_running_loop().time() - started
    assert elapsed < 1.0
    events = (await client.get(f"/v1/tasks/{task['id']}/events", headers=user.headers)).json()["items"]
    assert events[-1]["type"] == "task.cancelled"


async def test_signal_resumes_a_waiting_task_over_http(live: tuple[httpx.AsyncClient, Resources]) -> None:
    from agentic.engine import store

    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = await make_agent(db, user)
        version = (await db.scalars(select(AgentVersion.id).where(AgentVersion.agent_id == agent.id))).one()
        task = await store.enqueue(
            db,
            org_id=user.org.id,
            agent_id=agent.id,
            agent_version_id=version,
            runner="test.scripted",
            input={"steps": [{"key": "input", "wait": {"timeout_s": 600}}]},
            created_by_id=user.user.id,
        )
    for _ in range(200):
        if (await client.get(f"/v1/tasks/{task.id}", headers=user.headers)).json()["state"] == "waiting":
            break
        await asyncio.sleep(0.02)
    wrong = await client.post(f"/v1/tasks/{task.id}/signals", json={"key": "other"}, headers=user.headers)
    assert wrong.status_code == 409
    sent = await client.post(
        f"/v1/tasks/{task.id}/signals", json={"key": "input", "payload": {"answer": 42}}, headers=user.headers
    )
    assert sent.status_code == 202, sent.text
    done = await _wait(client, str(task.id), user.headers)
    assert done["output"] == {"steps": [{"signal": {"answer": 42}}]}


async def test_queue_health_on_metrics(client: httpx.AsyncClient, db: AsyncSession, user: Account) -> None:
    agent = await make_agent(db, user)
    for _ in range(3):
        await client.post("/v1/tasks", json={"agent_id": str(agent.id)}, headers=user.headers)
    metrics = (await client.get("/metrics")).text
    assert 'agentic_tasks{state="queued"} 3.0' in metrics
    assert 'agentic_tasks{state="running"} 0.0' in metrics
    assert "agentic_oldest_queued_task_age_seconds" in metrics
    assert "agentic_expired_leases 0.0" in metrics


async def test_retry_from_a_step_replays_the_steps_before_it(
    live: tuple[httpx.AsyncClient, Resources], tmp_path: Any
) -> None:
    from agentic.engine import store

    client, resources = live
    effects = tmp_path / "effects.jsonl"
    steps = [{"key": f"s{i}", "output": i} for i in (1, 2, 3)]
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = await make_agent(db, user)
        version = (await db.scalars(select(AgentVersion.id).where(AgentVersion.agent_id == agent.id))).one()
        original = await store.enqueue(
            db,
            org_id=user.org.id,
            agent_id=agent.id,
            agent_version_id=version,
            runner="test.scripted",
            input={"steps": steps, "effects_file": str(effects)},
            created_by_id=user.user.id,
        )
    assert (await _wait(client, str(original.id), user.headers))["state"] == "succeeded"
    running = await client.post(f"/v1/tasks/{original.id}/retry", json={"from_step": 2}, headers=user.headers)
    assert running.status_code == 201, running.text
    retried = running.json()
    assert retried["parent_task_id"] == str(original.id)
    done = await _wait(client, retried["id"], user.headers)
    assert done["output"] == {"steps": [1, 2, 3]}
    executed = [json.loads(line)["step"] for line in effects.read_text().splitlines()]
    assert executed == ["s1", "s2", "s3", "s2", "s3"]  # s1 was replayed, not run again
    created = (await client.get(f"/v1/tasks/{retried['id']}/events", headers=user.headers)).json()["items"][0]
    assert created["data"]["replayed_steps"] == ["s1"]

    later = await client.post(
        "/v1/tasks",
        json={"agent_id": str(agent.id), "run_at": "2099-01-01T00:00:00Z"},
        headers=user.headers,
    )
    not_finished = await client.post(f"/v1/tasks/{later.json()['id']}/retry", headers=user.headers)
    assert not_finished.status_code == 409
    assert not_finished.json()["error"]["code"] == "task_not_finished"
    bad_version = await client.post(
        f"/v1/tasks/{original.id}/retry", json={"agent_version": 9}, headers=user.headers
    )
    assert bad_version.status_code == 404


async def test_stored_content_is_redacted_and_can_be_switched_off(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = await make_agent(db, user)
    message = {"message": "write to ada@example.com today"}
    first = (
        await client.post(
            "/v1/tasks", json={"agent_id": str(agent.id), "input": message}, headers=user.headers
        )
    ).json()
    done = await _wait(client, first["id"], user.headers)
    events = (await client.get(f"/v1/tasks/{first['id']}/events", headers=user.headers)).json()["items"]
    assert "ada@example.com" not in json.dumps(events)
    assert "ada@example.com" not in json.dumps(done["output"])
    assert "[REDACTED:email]" in done["output"]["text"]

    async with resources.sessions() as db:
        from agentic.db.models import Organization

        org = await db.get(Organization, user.org.id)
        assert org is not None
        org.settings = {**org.settings, "store_llm_content": False}
        await db.commit()
    second = (
        await client.post(
            "/v1/tasks", json={"agent_id": str(agent.id), "input": message}, headers=user.headers
        )
    ).json()
    done = await _wait(client, second["id"], user.headers)
    events = (await client.get(f"/v1/tasks/{second['id']}/events", headers=user.headers)).json()["items"]
    tokens = [e["data"] for e in events if e["type"] == "llm.tokens"]
    assert tokens
    assert all("text" not in t and t["chars"] > 0 for t in tokens)
    assert done["output"]["text"] is None


async def test_agent_at_its_limit_rejects_when_asked_to(
    client: httpx.AsyncClient, db: AsyncSession, user: Account
) -> None:
    agent = Agent(org_id=user.org.id, owner_id=user.user.id, name="Solo", latest_version=1)
    db.add(agent)
    await db.flush()
    db.add(
        AgentVersion(
            org_id=user.org.id,
            agent_id=agent.id,
            version=1,
            config={
                "model": {"provider": "mock", "name": "echo"},
                "policies": {"max_concurrent_runs": 1, "on_limit": "reject"},
            },
        )
    )
    await db.commit()
    first = (await client.post("/v1/tasks", json={"agent_id": str(agent.id)}, headers=user.headers)).json()
    await db.execute(
        update(Task)
        .where(Task.id == uuid.UUID(first["id"]))
        .values(state=TaskState.RUNNING, lease_owner="w", attempt=1)
    )
    await db.commit()
    busy = await client.post("/v1/tasks", json={"agent_id": str(agent.id)}, headers=user.headers)
    assert busy.status_code == 429
    assert busy.json()["error"]["code"] == "agent_busy"
    assert busy.headers["retry-after"] == "5"


async def test_an_agents_rate_limit_refuses_runs_past_it(
    client: httpx.AsyncClient, db: AsyncSession, user: Account
) -> None:
    limited = await make_agent(db, user, policies={"runs_per_minute": 2})
    other = await make_agent(db, user)
    body = {"agent_id": str(limited.id)}
    keyed = {"idempotency-key": "once", **user.headers}
    assert (await client.post("/v1/tasks", json=body, headers=keyed)).status_code == 201
    # An idempotent replay is the same run, not a new one: it does not count against the limit.
    assert (await client.post("/v1/tasks", json=body, headers=keyed)).status_code == 200
    assert (await client.post("/v1/tasks", json=body, headers=user.headers)).status_code == 201
    refused = await client.post("/v1/tasks", json=body, headers=user.headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Other agents are not affected.
    assert (
        await client.post("/v1/tasks", json={"agent_id": str(other.id)}, headers=user.headers)
    ).status_code == 201


async def test_a_run_renders_the_versions_templates_and_checks_its_input(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    from tests.api.test_agents import agent_body

    body = agent_body(
        model={"provider": "mock", "name": "echo", "options": {"tokens_per_second": 1000}},
        system_prompt="You help {{ name }}.",
        prompt_template="Say hello to {{ name }} in {{ language }}.",
        input_schema={
            "type": "object",
            "properties": {"name": {"type": "string"}, "language": {"type": "string"}},
            "required": ["name", "language"],
        },
    )
    created = await client.post("/v1/agents", json=body, headers=user.headers)
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]

    refused = await client.post(
        "/v1/tasks", json={"agent_id": agent_id, "input": {"name": "Ada"}}, headers=user.headers
    )
    assert refused.status_code == 422
    assert "language" in refused.text

    task = await client.post(
        "/v1/tasks",
        json={"agent_id": agent_id, "input": {"name": "Ada", "language": "French"}},
        headers=user.headers,
    )
    assert task.status_code == 201, task.text
    done = await _wait(client, task.json()["id"], user.headers)
    assert done["state"] == "succeeded", done
    # The mock `echo` model repeats the last user message: the rendered template.
    assert done["output"]["text"] == "Say hello to Ada in French."


async def test_a_tool_step_whose_result_is_an_error_reads_as_failed(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    # The call is refused by the SSRF guard: the model is told, the step is checkpointed as completed (so a
    # replay does not run it again), and the API says the step went wrong, with the error.
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    from tests.api.test_agents import agent_body

    script = [
        {"tool_calls": [{"name": "http_request", "arguments": {"url": "http://169.254.169.254/latest"}}]},
        {"text": "The metadata service was refused."},
    ]
    body = agent_body(
        model={"provider": "mock", "name": "scripted", "options": {"script": script}},
        system_prompt="Look around.",
        prompt_template=None,
        input_schema=None,
        tools=[{"name": "http_request"}],
    )
    agent = await client.post("/v1/agents", json=body, headers=user.headers)
    assert agent.status_code == 201, agent.text
    task = await client.post("/v1/tasks", json={"agent_id": agent.json()["id"]}, headers=user.headers)
    done = await _wait(client, task.json()["id"], user.headers)
    assert done["state"] == "succeeded", done

    steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=user.headers)).json()
    assert [(s["kind"], s["status"], s["outcome"]) for s in steps] == [
        ("llm", "succeeded", "ok"),
        ("tool", "succeeded", "error"),
        ("llm", "succeeded", "ok"),
    ]
    tool = steps[1]
    assert tool["error"]["code"] == "ssrf_refused"
    assert tool["error"] == tool["output"]["error"]
    assert steps[0]["error"] is None


async def test_a_full_pool_answers_503_and_a_running_task_survives_it(
    settings: Settings, log_lines: Any
) -> None:
    """Every connection of a real pool taken: requests answer 503 with Retry-After (not 500), and the runner
    of a task in flight gives its try back (no `engine.runner_crashed`); then it succeeds."""
    settings.database.pool_size = 2
    settings.database.max_overflow = 0
    settings.database.pool_timeout_s = 0.3
    settings.worker = WorkerSettings(
        in_process=True, poll_interval_s=0.02, concurrency=8, reap_interval_s=0.2
    )
    app = create_app(settings, run_workers=True)
    async with LifespanManager(app), asgi_client(app) as client:
        resources: Resources = app.state.resources
        async with resources.sessions() as db:
            user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
            agent = await make_agent(
                db, user, {"provider": "mock", "name": "echo", "options": {"latency_ms": 300}}
            )
        task = (await client.post("/v1/tasks", json={"agent_id": str(agent.id)}, headers=user.headers)).json()
        async with resources.sessions() as first, resources.sessions() as second:
            # Both connections taken, while the task's LLM step is under way.
            await first.execute(text("SELECT 1"))
            await second.execute(text("SELECT 1"))
            refused = await client.post("/v1/tasks", json={"agent_id": str(agent.id)}, headers=user.headers)
            await asyncio.sleep(0.8)  # the step ends meanwhile: its result cannot be written yet
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "database_unavailable"
        assert refused.json()["error"]["details"]["fault"] == "saturated"
        assert refused.headers["retry-after"] == "2"
        done = await _wait(client, task["id"], user.headers)
    assert done["state"] == "succeeded", done
    events = {line["event"] for line in log_lines()}
    assert "engine.runner_crashed" not in events, sorted(events)
    # The engine did meet the full pool (its background jobs deferred, or the attempt gave its try back).
    assert any(
        line["event"].startswith(("engine.", "worker.")) and line.get("fault") == "saturated"
        for line in log_lines()
    )
    assert "http.unhandled_error" not in events
