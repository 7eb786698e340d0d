"""The agent loop end to end over HTTP: a scripted mock model calls the sandboxed `python` tool and the
SSRF-guarded `http_request` tool, then answers; every LLM call and tool call is a step with its events."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from agentic.api.app import create_app
from agentic.config import Settings, ToolSettings, WorkerSettings
from agentic.db.models import Role, UsageRecord
from agentic.resources import Resources
from agentic.tools import registry
from tests.api.test_tasks import _wait
from tests.conftest import asgi_client
from tests.support.accounts import make_account, make_org
from tests.support.fake_llm_server import FakeLLMServer, fake_llm_server_fixture  # noqa: F401
from tests.support.local_server import serve
from tests.support.services import free_port

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
async def page() -> AsyncIterator[str]:
    """A real HTTP server on loopback for the `http_request` tool to reach."""
    app = web.Application()

    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hello from the page")

    app.router.add_get("/hello", hello)
    async with serve(app) as port:
        yield f"http://127.0.0.1:{port}/hello"


def _reachable_dir() -> Path:
    data_dir = Path(tempfile.mkdtemp(prefix="agentic-loop-"))
    data_dir.chmod(0o711)
    return data_dir


@pytest.fixture
async def live(settings: Settings, page: str) -> AsyncIterator[tuple[httpx.AsyncClient, Resources]]:
    port = int(page.split(":")[2].split("/", maxsplit=1)[0])
    # The sandbox runs as an unprivileged uid: its workspace must be reachable (pytest's tmp dirs are 0700).
    settings.data_dir = _reachable_dir()
    settings.worker = WorkerSettings(
        in_process=True, poll_interval_s=0.02, concurrency=8, reap_interval_s=0.2
    )
    # Only this test's loopback server is exempt from the SSRF guard.
    settings.tools = ToolSettings(allow_private_networks=["127.0.0.1/32"], http_allowed_ports=[port, 80])
    app = create_app(settings, run_workers=True)
    async with LifespanManager(app), asgi_client(app) as client:
        yield client, app.state.resources


def _agent(script: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "Tool user",
        "model": {"provider": "mock", "name": "scripted", "options": {"script": script}},
        "system_prompt": "Use the tools.",
        "tools": [{"name": "python"}, {"name": "http_request"}],
        "policies": {"max_attempts": 1},
    } | extra


async def test_the_model_calls_python_and_http_request_then_answers(
    live: tuple[httpx.AsyncClient, Resources], page: str
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    script: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "python", "arguments": {"code": "print(6 * 7)"}}]},
        {"tool_calls": [{"name": "http_request", "arguments": {"url": page}}]},
        {"text": "The answer is 42 and the page says hello."},
    ]
    agent = (await client.post("/v1/agents", json=_agent(script), headers=user.headers)).json()
    task = await client.post("/v1/tasks", json={"agent_id": agent["id"], "input": {}}, headers=user.headers)
    done = await _wait(client, task.json()["id"], user.headers, timeout_s=60)
    assert done["state"] == "succeeded", done
    assert done["output"]["text"] == "The answer is 42 and the page says hello."
    assert done["output"]["stop_reason"] == "final"

    steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=user.headers)).json()
    assert [(s["step_key"], s["kind"], s["name"]) for s in steps] == [
        ("llm-1", "llm", "mock/scripted"),
        ("tool-1-1", "tool", "python"),
        ("llm-2", "llm", "mock/scripted"),
        ("tool-2-1", "tool", "http_request"),
        ("llm-3", "llm", "mock/scripted"),
    ]
    python, http = steps[1]["output"], steps[3]["output"]
    assert python["stdout"] == "42\n", python
    assert python["exit_code"] == 0
    assert http["status"] == 200
    assert http["body"] == "hello from the page"

    events = (await client.get(f"/v1/tasks/{done['id']}/events", headers=user.headers)).json()["items"]
    started = [e["data"]["step"] for e in events if e["type"] == "step.started"]
    assert started == ["llm-1", "tool-1-1", "llm-2", "tool-2-1", "llm-3"]
    assert "llm.tokens" in [e["type"] for e in events]
    async with resources.sessions() as db:
        usage = await db.scalar(
            select(func.count()).select_from(UsageRecord).where(UsageRecord.task_id == uuid.UUID(done["id"]))
        )
    assert usage == 3
    # The sandbox's workspace lived for the attempt only (files that matter are task files).
    assert not (resources.settings.data_dir / "workspaces" / done["id"]).exists()


async def test_max_steps_stops_a_model_that_keeps_calling_tools(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    # Different arguments every time: progress as far as loop detection can tell, but it never ends.
    script: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "http_request", "arguments": {"url": f"http://169.254.169.254/{n}"}}]}
        for n in range(10)
    ]
    body = _agent(script, policies={"max_attempts": 1, "max_steps": 3})
    agent = (await client.post("/v1/agents", json=body, headers=user.headers)).json()
    task = await client.post("/v1/tasks", json={"agent_id": agent["id"]}, headers=user.headers)
    done = await _wait(client, task.json()["id"], user.headers, timeout_s=60)
    assert done["output"]["stop_reason"] == "max_steps"
    assert done["output"]["steps"] == 3
    steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=user.headers)).json()
    assert [s["kind"] for s in steps] == ["llm", "tool"] * 3


async def test_repeated_identical_calls_stop_the_run_and_internal_urls_are_refused(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    metadata: dict[str, Any] = {
        "tool_calls": [{"name": "http_request", "arguments": {"url": "http://169.254.169.254/latest"}}]
    }
    agent = (await client.post("/v1/agents", json=_agent([metadata] * 5), headers=user.headers)).json()
    task = await client.post("/v1/tasks", json={"agent_id": agent["id"], "input": {}}, headers=user.headers)
    done = await _wait(client, task.json()["id"], user.headers, timeout_s=60)
    assert done["state"] == "succeeded", done
    assert done["output"]["stop_reason"] == "loop_detected"
    steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=user.headers)).json()
    refused = [s["output"]["error"]["code"] for s in steps if s["kind"] == "tool"]
    assert refused == ["ssrf_refused", "ssrf_refused"]  # the third identical call is not made
    await asyncio.sleep(0)


async def test_files_in_and_out_of_the_sandbox_are_task_files(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        org = await make_org(db)
        user = await make_account(db, resources, org=org, role=Role.USER)
        other = await make_account(db, resources, org=org, role=Role.USER)
    code = (
        "rows = open('/workspace/in/data/sales.csv').read().splitlines()[1:]\n"
        "total = sum(int(r.split(',')[1]) for r in rows)\n"
        "import os; os.makedirs('/workspace/out', exist_ok=True)\n"
        "open('/workspace/out/total.txt', 'w').write(str(total))\n"
        "print(total)\n"
    )
    script: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "python", "arguments": {"code": code}}]},
        {"text": "The total is in total.txt."},
    ]
    agent = (await client.post("/v1/agents", json=_agent(script), headers=user.headers)).json()
    csv = base64.b64encode(b"item,amount\na,10\nb,32\n").decode()
    task = await client.post(
        "/v1/tasks",
        json={"agent_id": agent["id"], "files": [{"name": "data/sales.csv", "content_base64": csv}]},
        headers=user.headers,
    )
    assert task.status_code == 201, task.text
    done = await _wait(client, task.json()["id"], user.headers, timeout_s=60)
    assert done["state"] == "succeeded", done
    steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=user.headers)).json()
    assert steps[1]["output"]["stdout"] == "42\n", steps[1]["output"]
    assert steps[1]["output"]["files"] == [{"name": "total.txt", "size": 2}]

    files = (await client.get(f"/v1/tasks/{done['id']}/files", headers=user.headers)).json()
    assert [(f["direction"], f["name"], f["step_key"]) for f in files] == [
        ("in", "data/sales.csv", None),
        ("out", "total.txt", "tool-1-1"),
    ]
    output = await client.get(f"/v1/tasks/{done['id']}/files/{files[1]['id']}", headers=user.headers)
    assert output.content == b"42"
    assert output.headers["content-disposition"].startswith("attachment;")
    assert output.headers["content-type"] == "application/octet-stream"
    # Someone else's task files are not theirs to read.
    hidden = await client.get(f"/v1/tasks/{done['id']}/files/{files[1]['id']}", headers=other.headers)
    assert hidden.status_code == 404


@pytest.mark.parametrize(
    ("files", "loc"),
    [
        ([{"name": "../etc/passwd", "content_base64": ""}], ["body", "files", 0, "name"]),
        ([{"name": "/abs", "content_base64": ""}], ["body", "files", 0, "name"]),
        ([{"name": "a//b", "content_base64": ""}], ["body", "files", 0, "name"]),
        ([{"name": "a.txt", "content_base64": "not base64!"}], ["body", "files", 0, "content_base64"]),
        (
            [{"name": "a.txt", "content_base64": ""}, {"name": "a.txt", "content_base64": ""}],
            ["body", "files", 1, "name"],
        ),
    ],
)
async def test_bad_input_files_are_refused_naming_the_file(
    live: tuple[httpx.AsyncClient, Resources], files: list[dict[str, str]], loc: list[Any]
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    agent = (await client.post("/v1/agents", json=_agent([]), headers=user.headers)).json()
    refused = await client.post(
        "/v1/tasks", json={"agent_id": agent["id"], "files": files}, headers=user.headers
    )
    assert refused.status_code == 422, refused.text
    assert loc in [d["loc"] for d in refused.json()["error"]["details"]]


async def test_a_tool_call_interrupted_by_a_worker_stop_is_run_on_resume(settings: Settings) -> None:
    """The assistant's tool call is stored with its LLM step; the interrupted tool step has no result. The
    next attempt replays the LLM step (no new LLM call) and runs the tool, so the call gets its result."""
    settings.data_dir = _reachable_dir()
    settings.worker = WorkerSettings(
        in_process=True, poll_interval_s=0.02, concurrency=8, reap_interval_s=0.2, shutdown_grace_s=0.2
    )
    code = "import time; time.sleep(2); print('slow done')"
    script: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "python", "arguments": {"code": code}}]},
        {"text": "finished"},
    ]
    app = create_app(settings, run_workers=True)
    async with LifespanManager(app), asgi_client(app) as client:
        resources: Resources = app.state.resources
        async with resources.sessions() as db:
            user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
        agent = (await client.post("/v1/agents", json=_agent(script), headers=user.headers)).json()
        task = (await client.post("/v1/tasks", json={"agent_id": agent["id"]}, headers=user.headers)).json()
        for _ in range(200):  # until the tool step is running (its start is recorded after 1 s)
            steps = (await client.get(f"/v1/tasks/{task['id']}/steps", headers=user.headers)).json()
            if any(s["step_key"] == "tool-1-1" for s in steps):
                break
            await asyncio.sleep(0.05)
        assert [(s["step_key"], s["status"]) for s in steps] == [
            ("llm-1", "succeeded"),
            ("tool-1-1", "running"),
        ]
    # The worker stopped mid-tool; a new one resumes the task.
    app = create_app(settings, run_workers=True)
    async with LifespanManager(app), asgi_client(app) as client:
        resources = app.state.resources
        done = await _wait(client, task["id"], user.headers, timeout_s=60)
        assert done["state"] == "succeeded", done
        assert done["output"]["text"] == "finished"
        steps = (await client.get(f"/v1/tasks/{task['id']}/steps", headers=user.headers)).json()
        by_key = {s["step_key"]: s for s in steps}
        assert list(by_key) == ["llm-1", "tool-1-1", "llm-2"]
        assert by_key["llm-1"]["attempt"] == 1  # replayed, not called again
        assert by_key["tool-1-1"]["attempt"] == 2
        assert by_key["tool-1-1"]["output"]["stdout"] == "slow done\n"
        # The second LLM call saw system, user, the assistant's tool call and its result: paired.
        assert by_key["llm-2"]["input"] == {"messages": 4}
        async with resources.sessions() as db:
            calls = await db.scalar(
                select(func.count())
                .select_from(UsageRecord)
                .where(UsageRecord.task_id == uuid.UUID(task["id"]))
            )
        assert calls == 2  # llm-1 once, llm-2 once


# --- failures the model and the trace must see (issue 13) -------------------------------------------------


async def _events(client: httpx.AsyncClient, task_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get(f"/v1/tasks/{task_id}/events", headers=headers)).json()[
        "items"
    ]
    return items


async def test_a_tool_that_crashes_is_a_failed_tool_step_the_model_is_told_about(
    live: tuple[httpx.AsyncClient, Resources], page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What uvloop did to the sandbox: the tool raised instead of answering.

    The attempt goes on, the step is in the timeline with the error as its result, and the next LLM call sees
    that result.
    """
    client, resources = live

    async def crash(_ctx: registry.ToolContext, _arguments: dict[str, Any]) -> dict[str, Any]:
        trace = '  File "/usr/lib/python3.11/subprocess.py", line 1024, in __init__\n' * 30
        raise ValueError(f"unexpected kwargs: user, group, extra_groups\n{trace}")

    tool = registry.BUILTIN_TOOLS["http_request"]
    monkeypatch.setitem(registry.BUILTIN_TOOLS, "http_request", dataclasses.replace(tool, run=crash))
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    script: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "http_request", "arguments": {"url": page}}]},
        {"text": "The tool failed, sorry."},
    ]
    agent = (await client.post("/v1/agents", json=_agent(script), headers=user.headers)).json()
    task = await client.post("/v1/tasks", json={"agent_id": agent["id"]}, headers=user.headers)
    done = await _wait(client, task.json()["id"], user.headers, timeout_s=60)
    assert done["state"] == "succeeded", done
    assert done["output"]["text"] == "The tool failed, sorry."

    steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=user.headers)).json()
    assert [(s["step_key"], s["status"]) for s in steps] == [
        ("llm-1", "succeeded"),
        ("tool-1-1", "succeeded"),
        ("llm-2", "succeeded"),
    ]
    error = steps[1]["output"]["error"]
    assert error["code"] == "tool_crashed"
    # Checkpointed as succeeded (a replay must not run it again) but read as what it was: an error.
    assert steps[1]["outcome"] == "error"
    assert steps[1]["error"]["code"] == "tool_crashed"
    assert error["message"].startswith("http_request failed: ValueError: unexpected kwargs: user, group")
    assert "subprocess.py" not in error["message"]
    assert json.loads(steps[1]["output"]["content"]) == {"error": error}  # what the model was shown
    assert steps[2]["input"] == {"messages": 4}  # system, user, the call, and its (error) result
    events = await _events(client, done["id"], user.headers)
    assert [e["data"]["step"] for e in events if e["type"] == "step.started"] == [
        "llm-1",
        "tool-1-1",
        "llm-2",
    ]


async def test_a_fallback_is_visible_in_the_step_and_the_trace(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    body = {
        "name": "Falls back",
        "model": {
            "provider": "mock",
            "name": "fixed",
            "options": {"reply": "never", "fail": {"status": 401}},  # refused key: no retry, next target
            "fallbacks": [{"provider": "mock", "name": "echo"}],
        },
        "policies": {"max_attempts": 1},
    }
    agent = (await client.post("/v1/agents", json=body, headers=user.headers)).json()
    task = await client.post(
        "/v1/tasks",
        json={"agent_id": agent["id"], "input": {"message": "from the fallback"}},
        headers=user.headers,
    )
    assert task.status_code == 201, task.text
    done = await _wait(client, task.json()["id"], user.headers, timeout_s=60)
    assert done["state"] == "succeeded", done
    assert done["output"]["text"] == "from the fallback"

    (step,) = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=user.headers)).json()
    output = step["output"]
    assert output["served_by"] == {"target": "mock/echo", "position": 1}
    assert step["name"] == "mock/echo"  # the timeline names the model that answered, not the primary
    assert [(a["position"], a["outcome"], a.get("error_code")) for a in output["attempts"]] == [
        (0, "error", "authentication_failed"),
        (1, "ok", None),
    ]
    events = await _events(client, done["id"], user.headers)
    trace = [(e["data"]["position"], e["data"]["outcome"]) for e in events if e["type"] == "llm.attempt"]
    assert trace == [(0, "error"), (1, "ok")]


async def test_the_partial_text_of_a_failed_stream_is_kept(live: tuple[httpx.AsyncClient, Resources]) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    # The mock streams half of its words, then its stream breaks (after text, so no retry or fallback).
    options = {"reply": "one two three four five six", "fail": {"error": "malformed"}}
    body = {
        "name": "Breaks mid-answer",
        "model": {"provider": "mock", "name": "fixed", "options": options},
        "policies": {"max_attempts": 1},
    }
    agent = (await client.post("/v1/agents", json=body, headers=user.headers)).json()
    task = await client.post("/v1/tasks", json={"agent_id": agent["id"]}, headers=user.headers)
    done = await _wait(client, task.json()["id"], user.headers, timeout_s=60)
    assert done["state"] == "dead", done  # a retryable failure with no attempt left
    assert done["error"]["code"] == "malformed_response"
    assert "after 13 characters of answer" in done["error"]["message"]

    events = await _events(client, done["id"], user.headers)
    streamed = "".join(e["data"]["text"] for e in events if e["type"] == "llm.tokens")
    assert streamed == "one two three"
    (failed,) = [e["data"] for e in events if e["type"] == "llm.failed"]
    assert failed["partial"] == {"text": "one two three"}
    assert failed["error"]["code"] == "malformed_response"
    assert [a["outcome"] for a in failed["attempts"]] == ["error"]
    # The failed step keeps it too, not only the event log.
    (step,) = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=user.headers)).json()
    assert step["error"]["details"]["partial"] == {"text": "one two three"}


async def test_each_model_entry_reaches_its_own_server_through_its_credential(
    live: tuple[httpx.AsyncClient, Resources], fake_llm_server: FakeLLMServer
) -> None:
    """A chain of two OpenAI-compatible servers: the first refuses connections, the second answers."""
    client, resources = live
    async with resources.sessions() as db:
        admin = await make_account(db, resources, org=await make_org(db), role=Role.ADMIN)
    servers = {
        "local-down": f"http://127.0.0.1:{free_port()}/v1",
        "local-up": fake_llm_server.openai_base_url,
    }
    for name, base_url in servers.items():
        created = await client.post(
            "/v1/provider-credentials",
            json={"provider": "openai", "name": name, "api_key": "sk-no-key", "base_url": base_url},
            headers=admin.headers,
        )
        assert created.status_code == 201, created.text
    model = {
        "provider": "openai",
        "name": "gpt-test",
        "credential": "local-down",
        "fallbacks": [{"provider": "openai", "name": "gpt-test", "credential": "local-up"}],
    }
    agent = await client.post(
        "/v1/agents",
        json={"name": "Two servers", "model": model, "policies": {"max_attempts": 1}},
        headers=admin.headers,
    )
    assert agent.status_code == 201, agent.text
    assert agent.json()["model"]["fallbacks"][0]["credential"] == "local-up"
    task = await client.post(
        "/v1/tasks",
        json={"agent_id": agent.json()["id"], "input": {"message": "hello there"}},
        headers=admin.headers,
    )
    done = await _wait(client, task.json()["id"], admin.headers, timeout_s=60)
    assert done["state"] == "succeeded", done
    assert done["output"]["text"] == "echo: hello there"
    (step,) = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=admin.headers)).json()
    assert step["output"]["served_by"] == {
        "target": "openai/gpt-test",
        "position": 1,
        "credential": "local-up",
    }
    failed = [a for a in step["output"]["attempts"] if a["outcome"] == "error"]
    assert failed
    assert {a["error_code"] for a in failed} == {"connection_error"}
    assert {a["position"] for a in failed} == {0}


@pytest.mark.parametrize(
    ("model", "loc"),
    [
        (
            {
                "provider": "openai",
                "name": "gpt-test",
                "fallbacks": [{"provider": "openai", "name": "gpt-test", "credential": "nope"}],
            },
            ["body", "model", "fallbacks", 0, "credential"],
        ),
        ({"provider": "anthropic", "name": "claude", "credential": "nope"}, ["body", "model", "credential"]),
        ({"provider": "mock", "name": "echo", "credential": "default"}, ["body", "model", "credential"]),
        ({"provider": "anthropic", "name": "claude", "options": {"seed": 1}}, ["body", "model", "options"]),
        (
            {"provider": "openai", "name": "gpt", "options": {"stop": []}},
            ["body", "model", "options", "stop"],
        ),
    ],
)
async def test_model_entries_are_checked_when_saved(
    live: tuple[httpx.AsyncClient, Resources], model: dict[str, Any], loc: list[Any]
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    refused = await client.post("/v1/agents", json={"name": "Checked", "model": model}, headers=user.headers)
    assert refused.status_code == 422, refused.text
    assert loc in [d["loc"] for d in refused.json()["error"]["details"]]


# --- issue 15: tool calls and their results are redacted, or not stored, like LLM content ----------------

CARD = "4111 1111 1111 1111"
MAIL = "jane.doe@example.com"
KEY = "sk-proj-4fG7hK2mN9pQ1rS5tV8wX3yZ"
PII_CODE = f"print('mail {MAIL} card {CARD} key {KEY}')"


async def _stored_rows(resources: Resources, task_id: str) -> str:
    """Everything stored for the task's steps and events, as one text to search."""
    from agentic.db.models import TaskEvent, TaskStep

    async with resources.sessions() as db:
        steps = (await db.scalars(select(TaskStep).where(TaskStep.task_id == uuid.UUID(task_id)))).all()
        events = (await db.scalars(select(TaskEvent).where(TaskEvent.task_id == uuid.UUID(task_id)))).all()
    return json.dumps([[s.input, s.output, s.error] for s in steps] + [e.data for e in events], default=str)


@pytest.mark.parametrize("store_content", [True, False], ids=["redacted", "not-stored"])
async def test_tool_arguments_and_results_are_redacted_or_not_stored(
    live: tuple[httpx.AsyncClient, Resources], store_content: bool
) -> None:
    client, resources = live
    async with resources.sessions() as db:
        org = await make_org(db)
        org.settings = {**org.settings, "store_llm_content": store_content}
        user = await make_account(db, resources, org=org, role=Role.USER)
        await db.commit()
    script: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "python", "arguments": {"code": PII_CODE}}]},
        {"text": "Done."},
    ]
    body = _agent(script, tools=[{"name": "python"}])
    agent = (await client.post("/v1/agents", json=body, headers=user.headers)).json()
    task = await client.post("/v1/tasks", json={"agent_id": agent["id"], "input": {}}, headers=user.headers)
    done = await _wait(client, task.json()["id"], user.headers, timeout_s=60)
    assert done["state"] == "succeeded", done

    stored = await _stored_rows(resources, done["id"])
    for secret in (MAIL, CARD, KEY):
        assert secret not in stored, f"{secret} stored in plain text"
    steps = (await client.get(f"/v1/tasks/{done['id']}/steps", headers=user.headers)).json()
    tool = next(s for s in steps if s["kind"] == "tool")
    (call,) = steps[0]["output"]["tool_calls"]
    assert "sealed" in call  # kept, encrypted, for a replay that must run exactly this call
    if store_content:
        assert "[REDACTED:email]" in tool["input"]["arguments"]["code"]
        assert "[REDACTED:email]" in tool["output"]["stdout"]
        assert "[REDACTED:email]" in call["arguments"]["code"]
    else:
        assert tool["input"] is None
        assert tool["output"] == {"content_stored": False, "chars": tool["output"]["chars"]}
        assert tool["output"]["chars"] > 0
        assert call["arguments"] is None


async def test_a_retry_from_a_later_step_replays_the_sealed_tool_call(
    live: tuple[httpx.AsyncClient, Resources],
) -> None:
    """A retry is a new task that replays the original's steps: the sealed arguments of its tool call must
    open there (they are bound to the organisation, not the task; the browser suite caught it)."""
    client, resources = live
    async with resources.sessions() as db:
        user = await make_account(db, resources, org=await make_org(db), role=Role.USER)
    script: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "python", "arguments": {"code": PII_CODE}}]},
        {"text": "Done."},
    ]
    agent = (await client.post("/v1/agents", json=_agent(script), headers=user.headers)).json()
    task = await client.post("/v1/tasks", json={"agent_id": agent["id"], "input": {}}, headers=user.headers)
    first = await _wait(client, task.json()["id"], user.headers, timeout_s=60)
    assert first["state"] == "succeeded", first
    retried = await client.post(f"/v1/tasks/{first['id']}/retry", json={"from_step": 3}, headers=user.headers)
    assert retried.status_code == 201, retried.text
    again = await _wait(client, retried.json()["id"], user.headers, timeout_s=60)
    assert again["state"] == "succeeded", again
    assert again["output"]["text"] == "Done."
