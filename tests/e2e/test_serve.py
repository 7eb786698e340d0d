"""`agentic serve` and `agentic worker` as real processes, the way a user starts them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import agentic_env, run_cli, start_cli, wait_ready
from tests.support.services import free_port

pytestmark = pytest.mark.slow

# uvicorn shuts down gracefully on SIGTERM, then re-raises the signal so supervisors see why it stopped.
SERVE_CLEAN_EXIT = {0, -signal.SIGTERM}


def _stop(proc: subprocess.Popen[bytes], timeout_s: float = 20) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("process did not stop within the grace period after SIGTERM")


def test_serve_embedded_default_on_a_fresh_data_dir(tmp_path: Path) -> None:
    """No database, no Redis, no data dir: serve migrates SQLite, serves the UI and prints the setup link."""
    port = free_port()
    data_dir = tmp_path / "fresh"
    log = tmp_path / "serve.log"
    proc = start_cli("serve", "--port", str(port), env=agentic_env(data_dir), log_path=log)
    base = f"http://127.0.0.1:{port}"
    try:
        ready = wait_ready(base, proc, log)
        assert ready.json()["checks"]["database"]["status"] == "ok"
        page = httpx.get(f"{base}/", headers={"accept": "text/html"}, timeout=5)
        assert page.status_code == 200
        assert "<html" in page.text.lower()
        info = httpx.get(f"{base}/v1/system/info", timeout=5).json()
        assert info["database_backend"] == "sqlite"
        assert info["needs_setup"] is True
        assert (data_dir / "agentic.db").is_file()
    finally:
        code = _stop(proc)
    output = log.read_text()
    assert code in SERVE_CLEAN_EXIT, output
    assert f"http://127.0.0.1:{port}/setup?token=" in output
    assert "worker.started" in output
    assert "worker.stopped" in output


def test_serve_on_postgres_and_redis(tmp_path: Path, postgres_database_url: str, redis_url: str) -> None:
    """The scale-out configuration: only two variables differ from the embedded default."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = agentic_env(tmp_path, postgres_database_url, AGENTIC_REDIS_URL=redis_url)
    proc = start_cli("serve", "--port", str(port), "--no-workers", env=env, log_path=log)
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}", proc, log)
        assert ready.json()["checks"]["redis"]["status"] == "ok"
        info = httpx.get(f"http://127.0.0.1:{port}/v1/system/info", timeout=5).json()
        assert info["database_backend"] == "postgresql"
        assert info["redis_configured"] is True
    finally:
        assert _stop(proc) in SERVE_CLEAN_EXIT, log.read_text()


def test_worker_process_starts_and_stops_gracefully(tmp_path: Path, database_url: str) -> None:
    log = tmp_path / "worker.log"
    proc = start_cli("worker", "--concurrency", "8", env=agentic_env(tmp_path, database_url), log_path=log)
    try:
        deadline = time.monotonic() + 30
        while "worker.started" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker did not start:\n{log.read_text()}")
            time.sleep(0.1)
    finally:
        code = _stop(proc)
    assert code == 0, log.read_text()
    assert "worker.stopped" in log.read_text()
    # On uvloop, as `agentic serve` (on asyncio's loop, socket writes were a quarter of its CPU; issue 14).
    started = next(json.loads(line) for line in log.read_text().splitlines() if '"worker.started"' in line)
    assert started["event_loop"] == "uvloop", started


def test_worker_refuses_an_unmigrated_database(tmp_path: Path, empty_database_url: str) -> None:
    result = run_cli("worker", env=agentic_env(tmp_path, empty_database_url), timeout=60)
    assert result.returncode == 2
    assert "agentic db upgrade" in result.stderr
