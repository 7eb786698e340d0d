"""Both sides of every branch on `AGENTIC_ENV` that needs no running server (issue 13: "wherever code branches
on the uid, the event loop or `AGENTIC_ENV`, both branches are tested").

The sides seen through the API are in `tests/api/test_production_mode.py`, the settings' refusals in
`tests/test_config.py`, and production as an operator runs it in `tests/e2e/test_production.py`.
"""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from agentic.config import (
    Environment,
    LLMSettings,
    LogSettings,
    SecuritySettings,
    Settings,
    SqlToolSettings,
)
from agentic.errors import AgenticError
from agentic.logging import _use_json
from agentic.security.outbound import LOOPBACK_NETWORKS
from agentic.services.connections import check_database_host, database_networks, http_policy
from agentic.services.llm import allow_internal_endpoints
from agentic.tools.http import OutboundRefused, check_url
from agentic.webhooks.policy import outbound_policy
from tests.support.processes import agentic_env

SECRET = "s" * 48
NOT_PRODUCTION = [Environment.DEV, Environment.TEST]


def _settings(env: Environment, **groups: object) -> Settings:
    values: dict[str, object] = {"env": env, "security": SecuritySettings(secret_key=SECRET), **groups}
    return Settings.model_validate(values)


# --- logging.py: `auto` is the console renderer in dev on a terminal, JSON everywhere else --------------


class _Stream(io.StringIO):
    def __init__(self, *, terminal: bool) -> None:
        super().__init__()
        self._terminal = terminal

    def isatty(self) -> bool:
        return self._terminal


@pytest.mark.parametrize(
    ("env", "terminal", "json_lines"),
    [
        (Environment.DEV, True, False),
        (Environment.DEV, False, True),
        (Environment.TEST, True, True),
        (Environment.PRODUCTION, True, True),
        (Environment.PRODUCTION, False, True),
    ],
)
def test_auto_log_format_is_readable_only_in_dev_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, env: Environment, terminal: bool, json_lines: bool
) -> None:
    monkeypatch.setattr(sys, "stderr", _Stream(terminal=terminal))
    assert _use_json(LogSettings(format="auto"), env) is json_lines
    # An explicit format wins over the environment either way.
    assert _use_json(LogSettings(format="json"), env) is True
    assert _use_json(LogSettings(format="console"), env) is False


_PROBE = (
    "from agentic.cli import _settings\n"
    "from agentic.logging import get_logger\n"
    "_settings()\n"
    "get_logger('probe').warning('probe.line', answer=42)\n"
)


def _stderr_of_probe(env: dict[str, str], *, terminal: bool) -> str:
    """What a CLI process writes to stderr after configuring logging as every command does."""
    if not terminal:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60, check=True
        )
        return result.stderr
    primary, secondary = pty.openpty()
    try:
        subprocess.run(  # noqa: S603
            [sys.executable, "-c", _PROBE],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=secondary,
            timeout=60,
            check=True,
        )
    finally:
        os.close(secondary)
    chunks: list[bytes] = []
    try:
        while chunk := os.read(primary, 65536):
            chunks.append(chunk)
    except OSError:  # EIO: the terminal's other end is closed and everything has been read
        pass
    finally:
        os.close(primary)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def _probe_env(tmp_path: Path, env_name: str) -> dict[str, str]:
    env = agentic_env(tmp_path / "data", AGENTIC_ENV=env_name, AGENTIC_SECURITY_SECRET_KEY=SECRET)
    del env["AGENTIC_LOG_FORMAT"]  # the default, `auto`
    return env


def test_a_dev_process_on_a_terminal_logs_for_humans(tmp_path: Path) -> None:
    out = _stderr_of_probe(_probe_env(tmp_path, "dev"), terminal=True)
    assert "probe.line" in out, out
    assert "answer" in out, out
    assert not any(line.lstrip().startswith("{") for line in out.splitlines()), out


@pytest.mark.parametrize(("env_name", "terminal"), [("production", True), ("dev", False)])
def test_other_processes_log_json(tmp_path: Path, env_name: str, terminal: bool) -> None:
    out = _stderr_of_probe(_probe_env(tmp_path, env_name), terminal=terminal)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(line["event"], line["answer"]) for line in lines] == [("probe.line", 42)], out


# --- services/llm.py: provider base URLs inside the network ---------------------------------------------


@pytest.mark.parametrize("env", NOT_PRODUCTION)
def test_internal_llm_endpoints_are_allowed_outside_production(env: Environment) -> None:
    assert allow_internal_endpoints(_settings(env)) is True


def test_internal_llm_endpoints_in_production_only_when_the_operator_opts_in() -> None:
    assert allow_internal_endpoints(_settings(Environment.PRODUCTION)) is False
    opted_in = _settings(Environment.PRODUCTION, llm=LLMSettings(allow_internal_base_urls=True))
    assert allow_internal_endpoints(opted_in) is True


# --- services/connections.py: where a PostgreSQL connection may point ---------------------------------


@pytest.mark.parametrize("env", NOT_PRODUCTION)
async def test_loopback_databases_are_allowed_outside_production(env: Environment) -> None:
    settings = _settings(env)
    assert database_networks(settings) == frozenset(LOOPBACK_NETWORKS)
    for host in ("127.0.0.1", "::1", "localhost"):
        await check_database_host(settings, host)
    with pytest.raises(AgenticError) as refused:
        await check_database_host(settings, "10.0.0.5")  # other internal networks stay the operator's call
    assert refused.value.code == "sql_host_refused"


async def test_production_refuses_loopback_databases_unless_the_operator_allows_them() -> None:
    settings = _settings(Environment.PRODUCTION)
    assert database_networks(settings) == frozenset()
    for host in ("127.0.0.1", "::1", "localhost"):
        with pytest.raises(AgenticError) as refused:
            await check_database_host(settings, host)
        assert refused.value.code == "sql_host_refused", host
    operator = _settings(Environment.PRODUCTION, sql=SqlToolSettings(allow_private_networks=["127.0.0.1/32"]))
    assert database_networks(operator) == frozenset({"127.0.0.1/32"})
    await check_database_host(operator, "127.0.0.1")
    with pytest.raises(AgenticError):
        await check_database_host(operator, "::1")


# --- security/outbound.py: registered URLs (webhooks, MCP servers) on this machine ---------------------


@pytest.mark.parametrize("env", NOT_PRODUCTION)
def test_registered_urls_may_use_loopback_on_any_port_outside_production(env: Environment) -> None:
    settings = _settings(env)
    for url in ("http://127.0.0.1:9000/hook", "http://[::1]:8765/hook", "https://127.0.0.1/hook"):
        for policy in (outbound_policy(settings, url), http_policy(settings, url)):
            assert str(check_url(policy, url)).startswith(url.split("/hook")[0]), url
    # The relaxation is for this machine only: other internal addresses and ports stay refused.
    for url, code in (
        ("http://10.0.0.5/hook", "ssrf_refused"),
        ("http://example.com:9000/hook", "port_refused"),
    ):
        with pytest.raises(OutboundRefused) as refused:
            check_url(outbound_policy(settings, url), url)
        assert refused.value.code == code, url


def test_production_refuses_registered_urls_on_loopback() -> None:
    settings = _settings(Environment.PRODUCTION)
    for url, code in (
        ("https://127.0.0.1/hook", "ssrf_refused"),  # an allowed port: refused as loopback
        ("https://[::1]/hook", "ssrf_refused"),
        ("http://127.0.0.1:9000/hook", "port_refused"),  # no port exemption either
    ):
        for policy in (outbound_policy(settings, url), http_policy(settings, url)):
            assert policy.allow_private_networks == frozenset()
            with pytest.raises(OutboundRefused) as refused:
                check_url(policy, url)
            assert refused.value.code == code, url
    assert str(check_url(outbound_policy(settings, "https://example.com/hook"), "https://example.com/hook"))


@pytest.mark.parametrize("env", NOT_PRODUCTION)
def test_registered_urls_may_name_localhost_outside_production(env: Environment) -> None:
    url = "http://localhost:9000/hook"
    check_url(outbound_policy(_settings(env), url), url)
