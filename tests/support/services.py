"""Finding (or starting) the PostgreSQL and Redis servers the tests need.

Order: an explicit URL from the environment; the usual local server (127.0.0.1:5432 / :6379); a throwaway
instance started from the installed binaries. Under `CI=true` a missing service is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class Service:
    """A reachable server, and how it was found."""

    url: str
    origin: str  # "env", "local" or "throwaway"


class ServiceUnavailableError(RuntimeError):
    """Neither reachable nor startable."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open("127.0.0.1", port):
            return
        time.sleep(0.1)
    raise ServiceUnavailableError(f"{what} did not start listening on port {port} within {timeout_s}s")


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


@contextlib.contextmanager
def postgres() -> Iterator[Service]:
    """A PostgreSQL admin URL (database with CREATE DATABASE rights) for the whole test session."""
    if url := os.environ.get("AGENTIC_TEST_POSTGRES_URL"):
        yield Service(url, "env")
        return
    if not os.environ.get("AGENTIC_TEST_FORCE_THROWAWAY") and port_open("127.0.0.1", 5432):
        yield Service("postgresql://postgres@127.0.0.1:5432/test", "local")
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise ServiceUnavailableError(
            "PostgreSQL is not reachable on 127.0.0.1:5432 and initdb/pg_ctl are missing"
        )
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="agentic-pg-"))
    datadir = workdir / "data"
    # initdb refuses to run as root; use the distribution's postgres account when we are root.
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            raise ServiceUnavailableError(
                "running as root without runuser: cannot start a throwaway PostgreSQL"
            )
        shutil.chown(workdir, "postgres")
        workdir.chmod(0o700)
        prefix = [runuser, "-u", "postgres", "--"]
    subprocess.run(  # noqa: S603
        [*prefix, initdb, "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(  # noqa: S603
        [*prefix, pg_ctl, "-D", str(datadir), "-o", opts, "-l", str(workdir / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        _wait_for_port(port, 30, "PostgreSQL")
        yield Service(f"postgresql://postgres@127.0.0.1:{port}/postgres", "throwaway")
    finally:
        subprocess.run(  # noqa: S603
            [*prefix, pg_ctl, "-D", str(datadir), "-m", "immediate", "stop"], check=False, capture_output=True
        )
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def redis() -> Iterator[Service]:
    """A Redis URL for the whole test session (tests use their own key prefixes / databases)."""
    if url := os.environ.get("AGENTIC_TEST_REDIS_URL"):
        yield Service(url, "env")
        return
    if not os.environ.get("AGENTIC_TEST_FORCE_THROWAWAY") and port_open("127.0.0.1", 6379):
        yield Service("redis://127.0.0.1:6379/15", "local")
        return
    server = shutil.which("redis-server")
    if server is None:
        raise ServiceUnavailableError("Redis is not reachable on 127.0.0.1:6379 and redis-server is missing")
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, 15, "Redis")
        yield Service(f"redis://127.0.0.1:{port}/0", "throwaway")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class RedisServer:
    """A `redis-server` of one test's own, on a port of its own, that the test may stop and start again.

    For fault injection: stopping it must never touch the shared Redis other tests use.
    """

    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 15) -> None:
        """Start the server (again, on the same port) and wait until it accepts connections."""
        if self.running:
            return
        self._proc = subprocess.Popen(  # noqa: S603
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, timeout_s, "Redis")

    def stop(self, timeout_s: float = 10) -> None:
        """Stop the server (SIGTERM: it closes its clients' connections, as a restarted Redis does)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=timeout_s)
        self._proc = None


@contextlib.contextmanager
def throwaway_redis() -> Iterator[RedisServer]:
    """A started `RedisServer` on a free port, stopped at the end; raises `ServiceUnavailableError` if
    `redis-server` is not installed (callers fail in CI, skip elsewhere)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceUnavailableError("redis-server is not installed: cannot start a Redis to stop mid-test")
    server = RedisServer(binary, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
