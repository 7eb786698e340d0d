"""The LiteLLM proxy the contract tests run against: a real third-party server, started once per session.

It runs from its own virtualenv (`.venv/litellm-proxy`, built by `make pytest` from
`litellm-requirements.txt`; `AGENTIC_TEST_LITELLM` may name another `litellm` executable) on a free loopback
port, with `litellm_config.yaml` and the model in `litellm_handler.py`. Offline: the model cost map is the
one LiteLLM ships, and the process gets a clean environment (no `DATABASE_URL` or proxy variable of ours
leaks in). As with PostgreSQL and Redis, a proxy that cannot start skips these tests on a workstation and
fails them under `CI=true`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import REPO, wait_answering
from tests.support.services import IN_CI, ServiceUnavailableError, free_port

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "litellm_config.yaml"
LITELLM = Path(os.environ.get("AGENTIC_TEST_LITELLM") or REPO / ".venv" / "litellm-proxy" / "bin" / "litellm")
MASTER_KEY = "sk-agentic-contract-0123456789abcdef"  # LiteLLM wants 32 characters or more
STARTUP_TIMEOUT_S = 120.0  # about 10 s on a quiet machine; importing LiteLLM is most of it


@dataclass(frozen=True)
class LiteLLMProxy:
    """A running proxy: its base URL (the Anthropic route's base URL; the OpenAI one adds `/v1`)."""

    base_url: str
    api_key: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def run_litellm_proxy() -> Iterator[LiteLLMProxy]:
    """Run the proxy for the duration of the block.

    Raises:
        ServiceUnavailableError: Its virtualenv is missing, or it exited or did not become ready in time (its
            output is in the message).
    """
    if not LITELLM.exists():
        raise ServiceUnavailableError(
            f"{LITELLM} not found: `make pytest` builds the proxy's virtualenv (.venv/litellm-proxy)"
        )
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="agentic-litellm-") as home, tempfile.TemporaryFile() as output:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # never fetch the price list from the internet
            "LITELLM_LOG": "ERROR",
        }
        process = subprocess.Popen(  # noqa: S603
            [str(LITELLM), "--config", str(CONFIG), "--host", "127.0.0.1", "--port", str(port)],
            cwd=home,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            if problem := wait_answering(process, f"{base_url}/health/liveliness", STARTUP_TIMEOUT_S):
                output.seek(0)
                text = output.read().decode(errors="replace")[-4000:]
                raise ServiceUnavailableError(
                    f"the LiteLLM proxy on port {port} {problem}; its output:\n{text}"
                )
            yield LiteLLMProxy(base_url=base_url, api_key=MASTER_KEY, process=process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="session")
def litellm_proxy() -> Iterator[LiteLLMProxy]:
    """The session's LiteLLM proxy; skipped when it cannot start, except in CI, where that is a failure."""
    stack = contextlib.ExitStack()
    try:
        proxy = stack.enter_context(run_litellm_proxy())
    except ServiceUnavailableError as exc:
        if IN_CI:
            pytest.fail(f"the LiteLLM proxy is required in CI: {exc}")
        pytest.skip(f"LiteLLM proxy unavailable: {exc}")
    with stack:
        yield proxy
