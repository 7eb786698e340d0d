"""What ships, run as a user runs it: `agentic serve` with the default settings, tools and all (issue 13).

`make run` starts `agentic serve` on the embedded default: SQLite, in-process workers, uvloop (uvicorn's
choice when it is installed, as `uvicorn[standard]` installs it), `AGENTIC_ENV` unset (dev). CI runs as root,
as many users' containers do. Every promise below failed once while the suite ran its own configuration:
the `python` tool could not start a process on uvloop as root, and its workspace under a private data
directory was out of the sandbox user's reach.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import agentic_env, start_cli, wait_ready
from tests.support.services import IN_CI, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("bwrap") is None and not IN_CI,
        reason="bubblewrap (bwrap) is not installed: `make os-deps`",
    ),
]

ADMIN_EMAIL = "owner@example.com"
ADMIN_PASSWORD = "a long and careful passphrase"


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"hello": "from a real HTTP server"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hello"
    finally:
        server.shutdown()
        server.server_close()


def _shipped_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = agentic_env(data_dir, **extra)
    del env["AGENTIC_ENV"]  # what a user has: the default environment, not the suite's `test`
    return env


@pytest.fixture(params=["private", "open"])
def served(
    request: pytest.FixtureRequest, tmp_path: Path, http_server: str
) -> Iterator[tuple[str, Path, str]]:
    """`agentic serve` with the shipped defaults, its data dir either private or reachable by others.

    `private`: under pytest's 0700 tmp_path, like a checkout under /root or a mkdtemp. `open`: under a 0755
    directory, like `make run`'s `./.agentic` in a checkout under /srv or /tmp.
    """
    assert tmp_path.stat().st_mode & 0o077 == 0
    base = tmp_path
    if request.param == "open":
        base = Path(tempfile.mkdtemp(prefix="agentic-open-"))
        base.chmod(0o755)
    port = free_port()
    log = tmp_path / "serve.log"
    env = _shipped_env(
        base / "data",
        AGENTIC_ADMIN_EMAIL=ADMIN_EMAIL,
        AGENTIC_ADMIN_PASSWORD=ADMIN_PASSWORD,
        # The settings the test needs: the HTTP tool may reach this test's own loopback server (the SSRF
        # guard refuses loopback otherwise; production refuses the setting itself).
        AGENTIC_TOOLS_ALLOW_PRIVATE_NETWORKS='["127.0.0.1/32"]',
        AGENTIC_TOOLS_HTTP_ALLOWED_PORTS=json.dumps([80, 443, httpx.URL(http_server).port]),
    )
    proc = start_cli("serve", "--port", str(port), env=env, log_path=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, proc, log)
        yield base_url, log, request.param
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if base != tmp_path:
            shutil.rmtree(base, ignore_errors=True)


def _log_events(log: Path) -> list[dict[str, Any]]:
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_an_agent_with_python_and_http_request_under_serve_as_shipped(
    served: tuple[str, Path, str], http_server: str
) -> None:
    base, log, data_dir_kind = served
    events = _log_events(log)
    started = next(e for e in events if e.get("event") == "worker.started")
    assert started["event_loop"] == "uvloop", started  # the loop `serve` really runs tasks on
    with httpx.Client(base_url=base, timeout=10) as client:
        login = client.post("/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        client.headers["authorization"] = f"Bearer {login.json()['access_token']}"
        tools = {t["name"]: t for t in client.get("/v1/tools").json()}
        assert tools["python"].get("unavailable_reason") is None, tools["python"]
        script = [
            {
                "tool_calls": [
                    {
                        "name": "python",
                        "arguments": {
                            "code": "import os\nprint('uid', os.getuid(), 6 * 7)\n"
                            "open('out/report.txt', 'w').write('forty-two')"
                        },
                    }
                ]
            },
            {"tool_calls": [{"name": "http_request", "arguments": {"url": http_server}}]},
            {"text": "The answer is 42 and the server said hello."},
        ]
        agent = client.post(
            "/v1/agents",
            json={
                "name": "Shipped tools",
                "model": {"provider": "mock", "name": "scripted", "options": {"script": script}},
                "tools": [{"name": "python"}, {"name": "http_request"}],
            },
        )
        assert agent.status_code == 201, agent.text
        created = client.post("/v1/tasks", json={"agent_id": agent.json()["id"]})
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        deadline = time.monotonic() + 60
        while (task := client.get(f"/v1/tasks/{task_id}").json())["state"] not in (
            "succeeded",
            "failed",
            "dead",
            "cancelled",
        ):
            assert time.monotonic() < deadline, task
            time.sleep(0.2)
        steps = client.get(f"/v1/tasks/{task_id}/steps").json()
        files = client.get(f"/v1/tasks/{task_id}/files").json()
    assert task["state"] == "succeeded", (task, steps, log.read_text()[-4000:])
    assert task["attempt"] == 1  # no attempt lost to a crashed tool
    assert [s["step_key"] for s in steps] == ["llm-1", "tool-1-1", "llm-2", "tool-2-1", "llm-3"]
    python, http = steps[1]["output"], steps[3]["output"]
    assert python.get("error") is None, python
    assert python["exit_code"] == 0, python
    assert python["stdout"] == "uid 65534 42\n", python  # sandboxed as nobody, whatever uid serve has
    assert [f["name"] for f in files if f["direction"] == "out"] == ["report.txt"], files
    assert http.get("error") is None, http
    assert http["status"] == 200, http
    assert json.loads(http["body"]) == {"hello": "from a real HTTP server"}
    assert task["output"]["text"] == "The answer is 42 and the server said hello."
    assert any(e.get("event") == "sandbox.ready" for e in _log_events(log)), log.read_text()[-4000:]
    ready = next(e for e in _log_events(log) if e.get("event") == "sandbox.ready")
    if data_dir_kind == "private" and os.geteuid() == 0:
        # Out of the sandbox uid's reach: the workspaces moved to a private directory of the process.
        assert "/agentic-workspaces-" in str(ready["workspaces"]), ready
    else:
        assert str(ready["workspaces"]).endswith("/data/workspaces"), ready
