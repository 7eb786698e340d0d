"""The deployment files are valid and match the code they deploy."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.services import IN_CI

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "deploy" / "docker-compose.yml"


def _compose(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        if IN_CI:
            pytest.fail("docker-compose is required in CI (make test installs it from the OS packages)")
        pytest.skip("docker-compose not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTIC_", "POSTGRES_"))} | env_extra
    return subprocess.run(  # noqa: S603
        [binary, "-f", str(COMPOSE), "config", "-q"], env=env, capture_output=True, text=True, check=False
    )


def test_compose_file_is_valid() -> None:
    result = _compose({"AGENTIC_SECURITY_SECRET_KEY": "k" * 48})
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_run_without_a_secret_key() -> None:
    result = _compose({})
    assert result.returncode != 0
    assert "AGENTIC_SECURITY_SECRET_KEY" in result.stderr


def test_dockerfile_copies_files_that_exist() -> None:
    for line in (REPO / "deploy" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), f"Dockerfile copies missing path {source}"
