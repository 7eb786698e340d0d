"""Contract tests: real agent tasks, through the platform's engine and gateway, against the LiteLLM proxy.

LiteLLM serves both of its routes from one process: OpenAI's `/v1/chat/completions` (our `openai` provider
with a base URL) and Anthropic's `/v1/messages` (our `anthropic` provider). Behind them the model in
`litellm_handler.py` streams text and tool calls, reports usage, and fails on demand, as real model servers
do. Each scenario runs an agent task on each route and checks what a user would see: the task's outcome,
its steps (output, usage, which target served it, every attempt), and its events. A 200 HTML page and a
refused connection do not come from the proxy: a loopback page server and a closed port stand beside it.

The in-repo fake server (`tests/support/fake_llm_server.py`) keeps the fast unit tests of each adapter;
these prove that requests and answers interoperate with a third party's implementation of both formats.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from agentic.api.app import create_app
from agentic.config import LLMSettings, ToolSettings, WorkerSettings
from agentic.db.models import Role, UsageRecord
from agentic.resources import Resources
from tests.api.test_tasks import _wait
from tests.conftest import asgi_client, make_settings
from tests.contract.conftest import LiteLLMProxy
from tests.support.accounts import Account, make_account, make_org
from tests.support.fake_llm_server import HTML_PAGE
from tests.support.local_server import serve
from tests.support.services import free_port

ROUTES = ("openai", "anthropic")
OTHER = {"openai": "anthropic", "anthropic": "openai"}
TEXT = "Hello from LiteLLM."
# Per million tokens: a dollar per prompt token and two per completion token make the cost show the counts.
PRICES = {
    f"{route}/{model}": {"input": 1e6, "output": 2e6} for route in ROUTES for model in ("text", "tools")
}


@dataclass(frozen=True)
class Platform:
    """The running platform and an organisation whose credentials reach the proxy, the portal and nothing."""

    client: httpx.AsyncClient
    resources: Resources
    admin: Account
    page: str  # a loopback page for the `http_request` tool
    closed_port: int


@dataclass(frozen=True)
class Run:
    """A finished task as its owner sees it."""

    task: dict[str, Any]
    steps: list[dict[str, Any]]
    events: list[dict[str, Any]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The data of the events of one type."""
        return [e["data"] for e in self.events if e["type"] == kind]


@pytest.fixture(scope="module")
async def side_server() -> AsyncIterator[int]:
    """Beside the proxy: a captive portal answering both API paths with a 200 HTML page; a page to fetch."""

    async def portal(_request: web.Request) -> web.Response:
        return web.Response(text=HTML_PAGE, content_type="text/html")

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="hello from the page")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", portal)
    app.router.add_post("/v1/messages", portal)
    app.router.add_get("/page", page)
    async with serve(app) as port:
        yield port


@pytest.fixture(scope="module")
async def platform(
    litellm_proxy: LiteLLMProxy,
    side_server: int,
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Platform]:
    """The platform with in-process workers (one for the module: the scenarios share it, as users would)."""
    directory = tmp_path_factory.mktemp("contract")
    shutil.copyfile(sqlite_template, directory / "test.db")
    settings = make_settings(
        directory,
        f"sqlite+aiosqlite:///{directory / 'test.db'}",
        worker=WorkerSettings(in_process=True, poll_interval_s=0.02, concurrency=8, reap_interval_s=0.2),
        # One retry, quickly; breakers never open here (each scenario checks its own attempts).
        llm=LLMSettings(
            max_retries=1,
            backoff_base_s=0.01,
            backoff_max_s=0.05,
            breaker_failure_threshold=1000,
            prices=PRICES,
        ),
        tools=ToolSettings(allow_private_networks=["127.0.0.1/32"], http_allowed_ports=[side_server]),
    )
    app = create_app(settings, run_workers=True)
    async with LifespanManager(app, startup_timeout=60), asgi_client(app) as client:
        resources: Resources = app.state.resources
        async with resources.sessions() as db:
            admin = await make_account(db, resources, org=await make_org(db), role=Role.ADMIN)
        closed_port = free_port()  # nothing listens there
        endpoints = {
            "litellm": (f"{litellm_proxy.base_url}/v1", litellm_proxy.base_url),
            "portal": (f"http://127.0.0.1:{side_server}/v1", f"http://127.0.0.1:{side_server}"),
            "closed": (f"http://127.0.0.1:{closed_port}/v1", f"http://127.0.0.1:{closed_port}"),
        }
        for name, (openai_url, anthropic_url) in endpoints.items():
            for route, base_url in (("openai", openai_url), ("anthropic", anthropic_url)):
                created = await client.post(
                    "/v1/provider-credentials",
                    json={
                        "provider": route,
                        "name": f"{name}-{route}",
                        "api_key": litellm_proxy.api_key,
                        "base_url": base_url,
                    },
                    headers=admin.headers,
                )
                assert created.status_code == 201, created.text
        yield Platform(client, resources, admin, f"http://127.0.0.1:{side_server}/page", closed_port)


def entry(
    route: str, model: str, credential: str = "litellm", options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A model entry on `route` through the named credential (`litellm`, `portal`, `closed`)."""
    return {"provider": route, "name": model, "credential": f"{credential}-{route}", "options": options or {}}


async def run(
    platform: Platform, model: dict[str, Any], *, message: str = "hello", tools: list[str] | None = None
) -> Run:
    """Create an agent with `model`, run one task of it to its end (one attempt), and read it back."""
    client, headers = platform.client, platform.admin.headers
    body = {
        "name": f"Contract {uuid.uuid4().hex[:8]}",
        "model": model,
        "tools": [{"name": name} for name in tools or []],
        "policies": {"max_attempts": 1},
    }
    agent = await client.post("/v1/agents", json=body, headers=headers)
    assert agent.status_code == 201, agent.text
    created = await client.post(
        "/v1/tasks", json={"agent_id": agent.json()["id"], "input": {"message": message}}, headers=headers
    )
    assert created.status_code == 201, created.text
    task = await _wait(client, created.json()["id"], headers, timeout_s=60)
    steps = (await client.get(f"/v1/tasks/{task['id']}/steps", headers=headers)).json()
    events = (await client.get(f"/v1/tasks/{task['id']}/events", headers=headers)).json()["items"]
    return Run(task, steps, events)


def attempts(step: dict[str, Any]) -> list[tuple[int, str, str | None]]:
    """`(position, outcome, error code)` of each attempt an LLM step recorded."""
    return [(a["position"], a["outcome"], a.get("error_code")) for a in step["output"]["attempts"]]


def failed_attempts(run: Run) -> list[tuple[int, str, str | None]]:
    """`(position, outcome, error code)` of each attempt of the LLM call that failed the task."""
    (failed,) = run.of("llm.failed")
    return [(a["position"], a["outcome"], a.get("error_code")) for a in failed["attempts"]]


def assert_clean_error(message: str) -> None:
    """A task error a user can read: one line, capped, no upstream traceback."""
    assert "Traceback" not in message
    assert "\n" not in message
    assert len(message) <= 500


# --- what works ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
async def test_streamed_text_with_usage_and_cost(platform: Platform, route: str) -> None:
    done = await run(platform, entry(route, "text"))
    assert done.task["state"] == "succeeded", done.task
    assert done.task["output"]["text"] == TEXT
    assert done.task["output"]["usage"] == {"input_tokens": 11, "output_tokens": 4, "cost_usd": 19.0}
    (step,) = done.steps
    assert (step["kind"], step["name"], step["status"]) == ("llm", f"{route}/text", "succeeded")
    output = step["output"]
    assert output["usage"] == {"input_tokens": 11, "output_tokens": 4}  # the Anthropic route: message_delta
    assert output["finish_reason"] == "stop"
    assert output["served_by"] == {"target": f"{route}/text", "position": 0, "credential": f"litellm-{route}"}
    assert attempts(step) == [(0, "ok", None)]
    assert "".join(t["text"] for t in done.of("llm.tokens")) == TEXT  # streamed, into the task's events
    async with platform.resources.sessions() as db:
        (row,) = await db.scalars(
            select(UsageRecord).where(UsageRecord.task_id == uuid.UUID(done.task["id"]))
        )
    assert (row.provider, row.model, row.input_tokens, row.output_tokens, row.outcome) == (
        route,
        "text",
        11,
        4,
        "ok",
    )
    assert float(row.cost_usd) == 19.0


@pytest.mark.parametrize("route", ROUTES)
async def test_model_options_reach_the_server(platform: Platform, route: str) -> None:
    options = {"temperature": 0.2, "top_p": 0.9, "top_k": 5, "max_tokens": 64, "stop": ["END"]}
    done = await run(platform, entry(route, "options", options=options))
    assert done.task["state"] == "succeeded", done.task
    stop = "stop" if route == "openai" else "stop_sequences"
    assert json.loads(done.task["output"]["text"]) == {
        "max_tokens": 64,
        stop: ["END"],
        "temperature": 0.2,
        "top_k": 5,
        "top_p": 0.9,
    }


@pytest.mark.parametrize("route", ROUTES)
async def test_streamed_tool_calls_run_the_tool_and_the_loop_goes_on(platform: Platform, route: str) -> None:
    """The second LLM call carries the assistant's tool call and its result, as the strictest servers want
    them (the model refuses an OpenAI `"content": null` and an empty Anthropic text block)."""
    done = await run(platform, entry(route, "tools"), message=platform.page, tools=["http_request"])
    assert done.task["state"] == "succeeded", done.task
    assert [(s["step_key"], s["kind"], s["status"]) for s in done.steps] == [
        ("llm-1", "llm", "succeeded"),
        ("tool-1-1", "tool", "succeeded"),
        ("llm-2", "llm", "succeeded"),
    ]
    call, tool, answer = (s["output"] for s in done.steps)
    assert call["finish_reason"] == "tool_calls"
    assert [(c["name"], c["arguments"]) for c in call["tool_calls"]] == [
        ("http_request", {"url": platform.page})
    ]
    assert (tool["status"], tool["body"]) == (200, "hello from the page")
    assert answer["content"].startswith("The tool said: ")
    assert "hello from the page" in answer["content"]
    assert done.task["output"]["usage"] == {"input_tokens": 22, "output_tokens": 8, "cost_usd": 38.0}


@pytest.mark.parametrize("primary", ROUTES)
async def test_a_failing_route_falls_back_to_the_other(platform: Platform, primary: str) -> None:
    other = OTHER[primary]
    done = await run(platform, {**entry(primary, "fail"), "fallbacks": [entry(other, "text")]})
    assert done.task["state"] == "succeeded", done.task
    assert done.task["output"]["text"] == TEXT
    (step,) = done.steps
    assert step["output"]["served_by"] == {
        "target": f"{other}/text",
        "position": 1,
        "credential": f"litellm-{other}",
    }
    assert step["output"]["provider"] == other
    failure = ("provider_unavailable",) * 2
    assert attempts(step) == [(0, "error", failure[0]), (0, "error", failure[1]), (1, "ok", None)]
    # The trace shows the retries and the fallback as they happened.
    assert [(a["target"], a["outcome"]) for a in done.of("llm.attempt")] == [
        (f"{primary}/fail", "error"),
        (f"{primary}/fail", "error"),
        (f"{other}/text", "ok"),
    ]


# --- what fails, and how it shows -------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
async def test_an_error_mid_stream_keeps_the_partial_text(platform: Platform, route: str) -> None:
    """Text had reached the task's events: no retry and no fallback (they would repeat or contradict it)."""
    done = await run(platform, {**entry(route, "midstream"), "fallbacks": [entry(OTHER[route], "text")]})
    assert done.task["state"] == "dead", done.task  # a retryable failure, and no attempt left
    error = done.task["error"]
    assert error["code"] == "provider_unavailable"
    assert "went away mid-answer" in error["message"]
    assert "after 10 characters of answer" in error["message"]
    assert_clean_error(error["message"])
    (step,) = done.steps
    assert (step["status"], step["error"]["code"]) == ("failed", "provider_unavailable")
    assert "".join(t["text"] for t in done.of("llm.tokens")) == "Hello from"
    (failed,) = done.of("llm.failed")
    assert failed["partial"] == {"text": "Hello from"}
    assert failed_attempts(done) == [(0, "error", "provider_unavailable")]


@pytest.mark.parametrize("route", ROUTES)
async def test_a_server_error_is_retried_then_fails_cleanly(platform: Platform, route: str) -> None:
    """The OpenAI route answers 500; the Anthropic route a 200 whose stream holds an `api_error` event."""
    done = await run(platform, entry(route, "fail"))
    assert done.task["state"] == "dead", done.task
    error = done.task["error"]
    assert error["code"] == "provider_unavailable"
    assert "model crashed: CUDA error" in error["message"]
    assert_clean_error(error["message"])
    assert failed_attempts(done) == [(0, "error", "provider_unavailable")] * 2
    assert done.of("llm.tokens") == []


@pytest.mark.parametrize("route", ROUTES)
async def test_a_200_html_page_is_an_error(platform: Platform, route: str) -> None:
    done = await run(platform, entry(route, "text", credential="portal"))
    assert done.task["state"] == "dead", done.task
    error = done.task["error"]
    assert error["code"] == "unexpected_response"
    assert "text/html" in error["message"]
    assert "Guest Wi-Fi - Sign in" in error["message"]
    assert_clean_error(error["message"])
    assert failed_attempts(done) == [(0, "error", "unexpected_response")]  # the same page again: no retry
    (step,) = done.steps
    assert step["status"] == "failed"


@pytest.mark.parametrize("route", ROUTES)
async def test_a_refused_connection_is_a_connection_error(platform: Platform, route: str) -> None:
    done = await run(platform, entry(route, "text", credential="closed"))
    assert done.task["state"] == "dead", done.task
    error = done.task["error"]
    assert error["code"] == "connection_error"
    assert f"cannot connect to 127.0.0.1:{platform.closed_port}: connection refused" in error["message"]
    assert failed_attempts(done) == [(0, "error", "connection_error")] * 2
