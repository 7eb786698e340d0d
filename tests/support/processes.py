"""Running the `agentic` command as a real process, as a user would."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def agentic_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    """A clean environment for the CLI: none of the developer's AGENTIC_* variables leak in."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AGENTIC_")}
    env.update({"AGENTIC_DATA_DIR": str(data_dir), "AGENTIC_ENV": "test", "AGENTIC_LOG_FORMAT": "json"})
    if database_url:
        env["AGENTIC_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `agentic ARGS…` to completion."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "agentic.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


def start_cli(*args: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `agentic ARGS…` in the background, output to `log_path`."""
    # The child keeps its own copy of the descriptor; ours can close at once.
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "agentic.cli", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )


def wait_answering(
    process: subprocess.Popen[bytes], url: str, timeout_s: float, *, interval_s: float = 0.2
) -> str | None:
    """None once `url` answers 200 (while `process` runs); otherwise why not."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (code := process.poll()) is not None:
            return f"exited with code {code}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                return None
        time.sleep(interval_s)
    return f"did not answer {url} within {timeout_s:.0f}s"


def wait_ready(
    base: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60
) -> httpx.Response:
    """`/readyz` of an `agentic serve` at `base` once it answers 200; raises `AssertionError` with the log if
    the process exits or the time runs out."""
    problem = wait_answering(process, f"{base}/readyz", timeout_s)
    if problem is not None:
        raise AssertionError(f"serve {problem}:\n{log.read_text()}")
    return httpx.get(f"{base}/readyz", timeout=5, trust_env=False)
