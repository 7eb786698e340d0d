"""Running the `agentic` command as a real process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
