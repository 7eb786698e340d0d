"""Production as an operator runs it: `AGENTIC_ENV=production`, a real secret key, PostgreSQL migrated with
`agentic db upgrade`, then `agentic serve` with every other setting at its default (issue 13: the suite runs
`AGENTIC_ENV=test`; production's side of each branch must be seen working in a real process too).
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PostgresDatabases
from tests.support.processes import agentic_env, run_cli, start_cli, wait_ready
from tests.support.services import free_port

pytestmark = pytest.mark.slow

ADMIN_EMAIL = "operator@example.com"
ADMIN_PASSWORD = "a long production passphrase"
# uvicorn shuts down gracefully on SIGTERM, then re-raises the signal so supervisors see why it stopped.
SERVE_CLEAN_EXIT = {0, -signal.SIGTERM}


def _production_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = agentic_env(data_dir, database_url, AGENTIC_ENV="production", **extra)
    del env["AGENTIC_LOG_FORMAT"]  # the default (`auto`): JSON in production
    return env


@pytest.fixture
async def fresh_postgres_url(postgres_databases: PostgresDatabases | None) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database: the operator migrates it."""
    if postgres_databases is None:
        pytest.skip("PostgreSQL unavailable")
    name = await postgres_databases.create(migrated=False)
    try:
        yield postgres_databases.url(name)
    finally:
        await postgres_databases.drop(name)


def _log_events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def _cookies(response: httpx.Response) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        found[name] = {part.strip().split("=", 1)[0].lower() for part in rest.split(";")[1:]}
    return found


def test_production_serves_signs_in_and_runs_a_task(tmp_path: Path, fresh_postgres_url: str) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    env = _production_env(
        tmp_path / "data",
        fresh_postgres_url,
        AGENTIC_SECURITY_SECRET_KEY=secrets.token_urlsafe(48),
        AGENTIC_ADMIN_EMAIL=ADMIN_EMAIL,
        AGENTIC_ADMIN_PASSWORD=ADMIN_PASSWORD,
        AGENTIC_SERVER_PORT=str(port),
    )
    migrated = run_cli("db", "upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "Database migrated to" in migrated.stderr

    proc = start_cli("serve", env=env, log_path=log)
    base = f"http://127.0.0.1:{port}"
    try:
        ready = wait_ready(base, proc, log)
        assert ready.json()["checks"]["database"]["status"] == "ok", ready.json()
        with httpx.Client(base_url=base, timeout=10) as client:
            info = client.get("/v1/system/info").json()
            assert (info["environment"], info["database_backend"], info["needs_setup"]) == (
                "production",
                "postgresql",
                False,
            ), info
            login = client.post("/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            assert login.status_code == 200, login.text
            cookies = _cookies(login)
            assert set(cookies) == {"agentic_session", "agentic_refresh", "agentic_csrf"}, cookies
            assert all("secure" in attributes for attributes in cookies.values()), cookies
            headers = {"authorization": f"Bearer {login.json()['access_token']}"}
            agent = client.post(
                "/v1/agents",
                json={"name": "Production echo", "model": {"provider": "mock", "name": "echo"}},
                headers=headers,
            )
            assert agent.status_code == 201, agent.text
            created = client.post(
                "/v1/tasks",
                json={"agent_id": agent.json()["id"], "input": {"message": "hello from production"}},
                headers=headers,
            )
            assert created.status_code == 201, created.text
            deadline = time.monotonic() + 60
            while (task := client.get(f"/v1/tasks/{created.json()['id']}", headers=headers).json())[
                "state"
            ] not in ("succeeded", "failed", "dead", "cancelled"):
                assert time.monotonic() < deadline, task
                time.sleep(0.2)
        assert task["state"] == "succeeded", (task, log.read_text()[-4000:])
        assert task["output"]["text"] == "hello from production", task
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"serve did not stop after SIGTERM:\n{log.read_text()}")
    assert code in SERVE_CLEAN_EXIT, log.read_text()
    events = {event["event"]: event for event in _log_events(log)}  # production logs JSON
    assert events["first_run.admin_created"]["email"] == ADMIN_EMAIL
    assert events["worker.started"]["event_loop"] == "uvloop"  # in-process workers, on serve's loop
    assert "worker.stopped" in events
    assert "/setup?token=" not in log.read_text()  # the environment's admin, not a setup link


@pytest.mark.parametrize(
    ("insecure", "explained"),
    [
        pytest.param(
            {"AGENTIC_SECURITY_SECRET_KEY": "too-short-to-sign-anything"},
            ["AGENTIC_SECURITY_SECRET_KEY must be set to a random value of at least 32 characters"],
            id="short-secret-key",
        ),
        pytest.param(
            {
                "AGENTIC_SECURITY_SECRET_KEY": "",
                "AGENTIC_TOOLS_ALLOW_PRIVATE_NETWORKS": '["10.0.0.0/8"]',
                "AGENTIC_ADMIN_EMAIL": ADMIN_EMAIL,
                "AGENTIC_ADMIN_PASSWORD": "short-pw",
            },
            [
                "AGENTIC_SECURITY_SECRET_KEY must be set",
                "AGENTIC_TOOLS_ALLOW_PRIVATE_NETWORKS must be empty",
                "AGENTIC_ADMIN_PASSWORD must be at least 12 characters",
            ],
            id="every-problem-at-once",
        ),
    ],
)
def test_production_refuses_to_start_with_an_insecure_setting(
    tmp_path: Path, insecure: dict[str, str], explained: list[str]
) -> None:
    data_dir = tmp_path / "data"
    result = run_cli(
        "serve", "--port", str(free_port()), env=_production_env(data_dir, **insecure), timeout=60
    )
    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert result.returncode == 2, result.stderr
    assert "Invalid settings" in message, result.stderr
    assert "refusing to start in production" in message, result.stderr
    for problem in explained:
        assert problem in message, result.stderr
    assert "Traceback" not in result.stderr
    for variable, value in insecure.items():
        if variable.endswith(("SECRET_KEY", "PASSWORD")) and value:
            assert value not in result.stderr, variable  # secrets are never echoed, even refused ones
    assert not data_dir.exists()  # refused before anything was created or migrated
