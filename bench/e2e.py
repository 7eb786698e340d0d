"""End-to-end benchmark of the product path: the public API, driven as a user drives it, on real processes.

Every cell starts its own processes, as `make run` and the docs start them, and stops them afterwards:
`agentic db upgrade`, then `agentic serve` (uvicorn on uvloop, default settings) and, when the topology has
them, `agentic worker` processes; plus an OpenAI-compatible mock LLM in its own process
(`tests/support/fake_llm_server.py`: streamed chat completions, 20 tokens, optional latency). The agent
reaches the mock the way a user configures it: an organisation credential (`POST /v1/provider-credentials`,
provider `openai`, `base_url` on loopback, allowed outside production) and an agent whose model is
`openai/gpt-bench+tokens=20[+latency=500]`. Clients authenticate with an API key.

Topologies:

- **a**: embedded default: one `agentic serve` (SQLite in its data directory, workers in the process).
- **b**: PostgreSQL + Redis: one `agentic serve --no-workers` and one `agentic worker`.
- **c**: PostgreSQL + Redis: two `agentic serve --no-workers` (clients spread over them) and two workers.

Cells:

- **runs**: N clients, each in a loop: `POST /v1/tasks`, then follow `GET /v1/tasks/{id}/events`
  (`Accept: text/event-stream`) until the terminal event. Runs/s, latency create → terminal event, errors
  (HTTP statuses; streams that closed without their terminal event, counted apart as *truncated*), CPU ms
  per run and peak RSS (VmHWM) of every process.
- **requests**: `POST /v1/tasks` (or `GET /v1/tasks/{id}`) alone on one API process, workers off: closed
  loop at a fixed concurrency, or open loop at a fixed rate (latency from the scheduled send time).
- **fanout**: many followers of the event streams of a few running tasks on one API process: followers
  established, errors, RSS of the API process, and the delay from an event's `created_at` to its receipt.

    .venv/bin/python -m bench.e2e                    # every cell (about 20 minutes)
    .venv/bin/python -m bench.e2e --quick            # a smoke run (small N, seconds per cell)
    .venv/bin/python -m bench.e2e --only runs --topologies a b --clients 1 10 50 --latencies 0
    .venv/bin/python -m bench.e2e cell runs --topology b --clients 50 --duration 20
    .venv/bin/python -m bench.e2e cell requests --op create --rate 500 --duration 10
    .venv/bin/python -m bench.e2e cell fanout --followers 1000
    .venv/bin/python -m bench.e2e profile /tmp/e2e-prof/*.txt   # summarise py-spy raw profiles
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/11")
ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "a long benchmark passphrase"  # noqa: S105  # a throwaway admin of a throwaway database
SECRET_KEY = "bench-e2e-secret-key-0123456789-abcdefghijklmnop"  # noqa: S105  # shared by a cell's processes
KEEP_LOGS = os.environ.get("BENCH_KEEP_LOGS")  # a directory: keep each cell's server logs there
# Settings for the servers beyond the defaults, as JSON, e.g. '{"AGENTIC_DATABASE_ECHO": "true"}'.
SERVER_ENV: dict[str, str] = json.loads(os.environ.get("BENCH_SERVER_ENV") or "{}")
TERMINAL_EVENTS = frozenset({"task.succeeded", "task.failed", "task.cancelled"})
TOKENS = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class Topology:
    """How many API and worker processes, on which database."""

    apis: int
    workers: int
    postgres: bool

    def describe(self, *, workers_on: bool = True) -> str:
        if not self.postgres:
            return "embedded (SQLite, workers in serve)" if workers_on else "SQLite, serve --no-workers"
        workers = f" + {self.workers} worker" if workers_on else ", no worker"
        return f"PG+Redis: {self.apis} serve{workers}"


TOPOLOGIES = {
    "a": Topology(apis=1, workers=0, postgres=False),
    "b": Topology(apis=1, workers=1, postgres=True),
    "c": Topology(apis=2, workers=2, postgres=True),
}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _raise_open_files_limit() -> int:
    """Lift the soft open-file limit to the hard one (inherited by the servers this process starts)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))], 1)


# --- processes ------------------------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_mib(pid: int, key: str) -> float:
    """A memory line of /proc/<pid>/status (VmHWM: peak RSS, VmRSS: current), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Proc:
    """A process of the cell (a server, a worker, the mock LLM)."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_s(self) -> float:
        return proc_cpu_s(self.pid)

    def peak_rss_mib(self) -> float:
        return proc_status_mib(self.pid, "VmHWM")

    def rss_mib(self) -> float:
        return proc_status_mib(self.pid, "VmRSS")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _spawn(name: str, args: list[str], env: dict[str, str], log: Path) -> Proc:
    with log.open("wb") as out:  # the child keeps its own descriptor
        popen = subprocess.Popen(  # noqa: S603
            [sys.executable, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        )
    return Proc(name, popen, log)


def _stop(procs: list[Proc]) -> None:
    for proc in procs:
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait(timeout=10)


def _server_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    """What a user sets: a data directory and the first admin; the scale-out variables on PostgreSQL."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AGENTIC_")}
    env.update(
        {
            "PYTHONPATH": str(REPO / "src"),  # the code of this checkout, whatever the venv has installed
            "AGENTIC_DATA_DIR": str(data_dir),
            "AGENTIC_ADMIN_EMAIL": ADMIN_EMAIL,
            "AGENTIC_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if database_url is not None:
        env["AGENTIC_DATABASE_URL"] = database_url
        env["AGENTIC_REDIS_URL"] = REDIS_URL
        env["AGENTIC_SECURITY_SECRET_KEY"] = SECRET_KEY  # the same key on every process of the cell
    env.update(SERVER_ENV)
    return env


async def _wait_ok(http: aiohttp.ClientSession, url: str, proc: Proc, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (code := proc.popen.poll()) is not None:
            raise RuntimeError(f"{proc.name} exited with code {code}:\n{proc.tail()}")
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout_s:.0f}s:\n{proc.tail()}")


async def _run_cli(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "agentic.cli",
            *args,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        code = await asyncio.wait_for(child.wait(), 180)
    if code != 0:
        raise RuntimeError(f"agentic {' '.join(args)} failed ({code}), see {log}")


@asynccontextmanager
async def _postgres_database() -> AsyncIterator[str]:
    import asyncpg

    name = f"bench_e2e_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def http_session(connections: int) -> aiohttp.ClientSession:
    """A client with room for `connections` concurrent connections, loopback only (no proxy from the env)."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections, ttl_dns_cache=3600)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None, sock_connect=30), trust_env=False
    )


@dataclass
class Stack:
    """The running processes of a cell and what a user set up through the API."""

    topology: Topology
    apis: list[str]
    procs: list[Proc]
    llm_url: str
    admin_headers: dict[str, str]
    key_headers: dict[str, str]
    data_dir: Path

    async def llm_requests(self, http: aiohttp.ClientSession) -> int:
        """How many requests the mock LLM has answered (a check that runs really reach it)."""
        async with http.get(f"{self.llm_url}/control/stats") as response:
            return int((await response.json())["requests"])

    def servers(self) -> list[Proc]:
        """The platform's processes (API and workers), the ones the figures are about."""
        return [p for p in self.procs if p.name != "mock-llm"]

    async def agent(self, http: aiohttp.ClientSession, model: str, name: str = "bench") -> str:
        body = {"name": name, "model": {"provider": "openai", "name": model}, "system_prompt": "Be brief."}
        async with http.post(f"{self.apis[0]}/v1/agents", json=body, headers=self.admin_headers) as response:
            if response.status != 201:
                raise RuntimeError(f"POST /v1/agents: {response.status} {await response.text()}")
            return str((await response.json())["id"])


def llm_model(latency_ms: int, *, tps: float | None = None) -> str:
    """The mock's model string: 20 streamed tokens, after `latency_ms`, paced at `tps` words/s if given."""
    model = f"gpt-bench+tokens={TOKENS}"
    if latency_ms:
        model += f"+latency={latency_ms}"
    if tps:
        model += f"+tps={tps:g}"
    return model


async def _setup_org(http: aiohttp.ClientSession, base: str, llm_url: str) -> tuple[dict[str, str], str]:
    """As a user: sign in as the first admin, store the OpenAI-compatible credential, create an API key."""
    async with http.post(
        f"{base}/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"login: {response.status} {await response.text()}")
        admin = {"authorization": f"Bearer {(await response.json())['access_token']}"}
    credential = {"provider": "openai", "api_key": "sk-bench-placeholder-0000", "base_url": f"{llm_url}/v1"}
    async with http.post(f"{base}/v1/provider-credentials", json=credential, headers=admin) as response:
        if response.status != 201:
            raise RuntimeError(
                f"POST /v1/provider-credentials (base_url {llm_url}/v1): {response.status} "
                f"{await response.text()}"
            )
    key_body = {"name": "bench", "scopes": ["agents:read", "tasks:run", "tasks:read"]}
    async with http.post(f"{base}/v1/api-keys", json=key_body, headers=admin) as response:
        if response.status != 201:
            raise RuntimeError(f"POST /v1/api-keys: {response.status} {await response.text()}")
        key = str((await response.json())["key"])
    return admin, key


def _keep_logs(tmp: Path) -> None:
    if KEEP_LOGS:
        kept = Path(KEEP_LOGS) / tmp.name
        kept.mkdir(parents=True, exist_ok=True)
        for log in tmp.glob("*.log"):
            shutil.copy(log, kept / log.name)
        _log(f"  logs kept in {kept}")


@asynccontextmanager
async def stack(topology: Topology, *, workers_on: bool = True) -> AsyncIterator[Stack]:
    """Start the cell's processes as the docs do, set up an organisation through the API; stop them after."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    procs: list[Proc] = []
    try:
        async with contextlib.AsyncExitStack() as exits:
            http = await exits.enter_async_context(http_session(16))
            llm_port = _free_port()
            llm = _spawn(
                "mock-llm",
                ["-m", "tests.support.fake_llm_server", "--host", "127.0.0.1", "--port", str(llm_port)],
                {**os.environ, "PYTHONUNBUFFERED": "1"},
                tmp / "mock-llm.log",
            )
            procs.append(llm)
            llm_url = f"http://127.0.0.1:{llm_port}"
            await _wait_ok(http, f"{llm_url}/health", llm)
            database_url = None
            if topology.postgres:
                database_url = await exits.enter_async_context(_postgres_database())
            env = _server_env(tmp / "data", database_url)
            await _run_cli(["db", "upgrade"], env, tmp / "upgrade.log")
            apis: list[str] = []
            for number in range(1, topology.apis + 1):
                port = _free_port()
                args = [
                    "-m",
                    "agentic.cli",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-migrate",
                ]
                in_process = not topology.postgres and workers_on
                if not in_process:
                    args.append("--no-workers")
                name = "api+workers" if in_process else ("api" if topology.apis == 1 else f"api-{number}")
                proc = _spawn(name, args, env, tmp / f"{name}.log")
                procs.append(proc)
                # One at a time: the first one creates the admin on the empty database.
                await _wait_ok(http, f"http://127.0.0.1:{port}/readyz", proc)
                apis.append(f"http://127.0.0.1:{port}")
            if workers_on:
                for number in range(1, topology.workers + 1):
                    name = "worker" if topology.workers == 1 else f"worker-{number}"
                    procs.append(_spawn(name, ["-m", "agentic.cli", "worker"], env, tmp / f"{name}.log"))
            admin, key = await _setup_org(http, apis[0], llm_url)
            await asyncio.sleep(1.0)  # the workers are up and listening
            for proc in procs:
                if (code := proc.popen.poll()) is not None:
                    raise RuntimeError(f"{proc.name} exited with code {code}:\n{proc.tail()}")
            yield Stack(
                topology=topology,
                apis=apis,
                procs=procs,
                llm_url=llm_url,
                admin_headers=admin,
                key_headers={"authorization": f"Bearer {key}"},
                data_dir=tmp,
            )
            _stop(procs)  # before the database is dropped
    finally:
        _stop(procs)
        _keep_logs(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


# --- measuring processes --------------------------------------------------------------------------------


@dataclass
class Meter:
    """CPU time of the cell's processes (and of this client) over the measured window; their peak RSS."""

    procs: list[Proc]
    cpu0: dict[str, float] = field(default_factory=dict)
    client0: float = 0.0
    profilers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *, profile_dir: str | None = None, profile_s: float = 0, label: str = "") -> None:
        self.cpu0 = {p.name: p.cpu_s() for p in self.procs}
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.client0 = usage.ru_utime + usage.ru_stime
        if profile_dir:
            self.profilers = _start_profilers(self.procs, profile_dir, profile_s, label)

    def stop(self, units: int) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        client = usage.ru_utime + usage.ru_stime - self.client0
        cpu = {p.name: p.cpu_s() - self.cpu0[p.name] for p in self.procs}
        cpu["client"] = client
        per_unit = {name: round(value * 1000 / units, 2) if units else None for name, value in cpu.items()}
        for profiler in self.profilers:
            try:
                profiler.wait(timeout=60)
            except subprocess.TimeoutExpired:
                profiler.kill()
        return {
            "cpu_s": {name: round(value, 2) for name, value in cpu.items()},
            "cpu_ms_per_unit": per_unit,
            "peak_rss_mib": {p.name: round(p.peak_rss_mib(), 1) for p in self.procs},
        }


def _start_profilers(
    procs: list[Proc], out_dir: str, seconds: float, label: str
) -> list[subprocess.Popen[bytes]]:
    """py-spy (`pip install py-spy`, for local use) on each process, raw collapsed stacks, on-CPU samples."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    started = []
    for proc in procs:
        out = Path(out_dir) / f"{label}-{proc.name}.txt"
        args = [py_spy, "record", "--pid", str(proc.pid), "--rate", "200", "--format", "raw"]
        args += ["--duration", str(max(1, int(seconds))), "-o", str(out)]
        started.append(
            subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        )
    return started


# --- the client side: one run, one event stream --------------------------------------------------------


EventHook = Callable[[str, bytes, float], None]


async def follow(
    http: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    task_id: str,
    *,
    on_event: EventHook | None = None,
    on_open: Callable[[float], None] | None = None,
) -> tuple[str, str | None]:
    """Follow a task's event stream until its terminal event.

    Returns:
        (`"terminal"`, the terminal event's type); (`"truncated"`, the last event's type or None) when the
        stream closed without its terminal event; (`"events <status>"`, None) when the stream was refused.
        Transport errors propagate.
    """
    url = f"{base}/v1/tasks/{task_id}/events"
    async with http.get(url, headers={**headers, "accept": "text/event-stream"}) as response:
        if response.status != 200:
            await response.read()
            return f"events {response.status}", None
        if on_open is not None:
            on_open(time.time())
        last: str | None = None
        pending = b""
        # Whole chunks, split into events here: a line-by-line read costs an await per line, and with
        # thousands of streams on the benchmark's own cores the client's CPU would be what is measured.
        async for chunk in response.content.iter_any():
            received = time.time()
            frames = (pending + chunk).replace(b"\r\n", b"\n").split(b"\n\n")
            pending = frames.pop()
            for frame in frames:
                kind: str | None = None
                data = b""
                for line in frame.split(b"\n"):
                    if line.startswith(b"event:"):
                        kind = line[6:].strip().decode()
                    elif line.startswith(b"data:"):
                        data = line[5:].strip()
                if kind is None:
                    continue  # a comment (keep-alive)
                if on_event is not None:
                    on_event(kind, data, received)
                if kind in TERMINAL_EVENTS:
                    # The server ends the stream after it: read to the end, so the connection is reused.
                    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
                        async with asyncio.timeout(2):
                            await response.read()
                    return "terminal", kind
                last = kind
    return "truncated", last


async def _state(http: aiohttp.ClientSession, base: str, headers: dict[str, str], task_id: str) -> str:
    """The task's state now (to tell what a truncated stream missed)."""
    try:
        async with http.get(f"{base}/v1/tasks/{task_id}", headers=headers) as response:
            return str((await response.json())["state"]) if response.status == 200 else str(response.status)
    except aiohttp.ClientError as exc:
        return type(exc).__name__


@dataclass
class RunStats:
    """What the clients of a runs cell saw."""

    latencies_ms: list[float] = field(default_factory=list)
    post_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)  # terminal event types
    errors: Counter[str] = field(default_factory=Counter)  # "POST 500", "events 503", "POST ClientOSError", …
    truncated: int = 0
    truncated_how: Counter[str] = field(default_factory=Counter)  # last event seen, and the task's state
    timeouts: int = 0
    started: int = 0
    last_done: float = 0.0
    samples: dict[str, str] = field(default_factory=dict)  # the first message of each kind of error

    def error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if message:
            self.samples.setdefault(kind, " ".join(message.split())[:300])


async def one_run(
    http: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    agent_id: str,
    *,
    stats: RunStats,
    timeout_s: float,
) -> str:
    """`POST /v1/tasks`, then its event stream to the terminal event: `ok`, `truncated` or `error`."""
    t0 = time.perf_counter()
    step = "POST"
    try:
        async with asyncio.timeout(timeout_s):
            body = {"agent_id": agent_id, "input": {"message": "hello from the benchmark"}}
            async with http.post(f"{base}/v1/tasks", json=body, headers=headers) as response:
                if response.status != 201:
                    stats.error(f"POST {response.status}", await response.text())
                    return "error"
                task_id = str((await response.json())["id"])
            stats.post_ms.append((time.perf_counter() - t0) * 1000)
            step = "events"
            outcome, kind = await follow(http, base, headers, task_id)
    except TimeoutError:
        stats.timeouts += 1
        stats.error(f"{step} timeout ({timeout_s:.0f} s)", "")
        return "error"
    except aiohttp.ClientError as exc:
        stats.error(f"{step} {type(exc).__name__}", str(exc))
        return "error"
    if outcome == "truncated":
        stats.truncated += 1
        stats.truncated_how[f"last event {kind}, task {await _state(http, base, headers, task_id)}"] += 1
        return "truncated"
    if outcome != "terminal" or kind is None:
        stats.error(outcome, "")
        return "error"
    stats.latencies_ms.append((time.perf_counter() - t0) * 1000)
    stats.outcomes[kind] += 1
    stats.last_done = time.perf_counter()
    return "ok"


# --- cells ----------------------------------------------------------------------------------------------


async def cell_runs(
    topology_name: str,
    *,
    clients: int,
    latency_ms: int,
    duration_s: float,
    max_runs: int,
    run_timeout_s: float,
    profile_dir: str | None,
) -> dict[str, Any]:
    """N clients, each looping create → follow to the terminal event, for `duration_s` (or `max_runs`)."""
    topology = TOPOLOGIES[topology_name]
    async with stack(topology) as st, http_session(clients * 2 + 16) as http:
        agent_id = await st.agent(http, llm_model(latency_ms))
        warm = RunStats()
        for base in st.apis:  # first-request costs (imports, caches) stay out of the figures
            for _ in range(3):
                await one_run(http, base, st.key_headers, agent_id, stats=warm, timeout_s=run_timeout_s)
        stats = RunStats()
        llm_before = await st.llm_requests(http)
        meter = Meter(st.servers() + [p for p in st.procs if p.name == "mock-llm"])
        meter.start(profile_dir=profile_dir, profile_s=duration_s, label=f"runs-{topology_name}-{clients}")
        t0 = time.perf_counter()
        end = t0 + duration_s

        async def client(number: int) -> None:
            base = st.apis[number % len(st.apis)]
            while time.perf_counter() < end and stats.started < max_runs:
                stats.started += 1
                if not await one_run(
                    http, base, st.key_headers, agent_id, stats=stats, timeout_s=run_timeout_s
                ):
                    await asyncio.sleep(0.1)  # an error does not become a hot loop

        async with asyncio.timeout(duration_s + run_timeout_s + 60):
            await asyncio.gather(*(client(i) for i in range(clients)))
        wall = max(stats.last_done, time.perf_counter()) - t0
        done = len(stats.latencies_ms)
        # CPU per run: per task that ran to its end, whether or not its stream showed the end.
        measured = meter.stop(done + stats.truncated)
        llm_calls = await st.llm_requests(http) - llm_before
    return {
        "cell": "runs",
        "topology": topology_name,
        "setup": topology.describe(),
        "clients": clients,
        "llm_latency_ms": latency_ms,
        "duration_s": duration_s,
        "wall_s": round(wall, 2),
        "runs": done,
        "started": stats.started,
        "runs_per_s": round(done / wall, 2) if wall else 0,
        "p50_ms": _percentile(stats.latencies_ms, 50),
        "p95_ms": _percentile(stats.latencies_ms, 95),
        "p99_ms": _percentile(stats.latencies_ms, 99),
        "post_p50_ms": _percentile(stats.post_ms, 50),
        "outcomes": dict(stats.outcomes),
        "errors": dict(stats.errors),
        "error_samples": stats.samples,
        "truncated": stats.truncated,
        "truncated_how": dict(stats.truncated_how),
        "timeouts": stats.timeouts,
        "llm_calls": llm_calls,
        **measured,
    }


@dataclass
class Requests:
    """One endpoint, requested again and again: latencies of the answers and errors."""

    http: aiohttp.ClientSession
    base: str
    headers: dict[str, str]
    agent_id: str
    task_id: str = ""  # the task a GET reads: the first one created
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    not_sent: int = 0

    async def request(self, op: str, due: float) -> None:
        """One request; its latency counts from `due` (when an open loop meant to send it)."""
        try:
            async with asyncio.timeout(60):
                if op == "create":
                    body = {"agent_id": self.agent_id, "input": {"message": "hello from the benchmark"}}
                    async with self.http.post(f"{self.base}/v1/tasks", json=body, headers=self.headers) as r:
                        payload = await r.read()
                        status, ok = r.status, r.status == 201
                    if ok and not self.task_id:
                        self.task_id = json.loads(payload)["id"]
                else:
                    url = f"{self.base}/v1/tasks/{self.task_id}"
                    async with self.http.get(url, headers=self.headers) as r:
                        await r.read()
                        status, ok = r.status, r.status == 200
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.errors[f"{op} {type(exc).__name__}"] += 1
            return
        if not ok:
            self.errors[f"{op} {status}"] += 1
            return
        self.latencies_ms.append((time.perf_counter() - due) * 1000)

    async def closed_loop(self, op: str, concurrency: int, end: float) -> None:
        async def client() -> None:
            while time.perf_counter() < end:
                await self.request(op, time.perf_counter())

        await asyncio.gather(*(client() for _ in range(concurrency)))

    async def open_loop(self, op: str, rate: float, max_in_flight: int, t0: float, duration_s: float) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        for number in range(int(rate * duration_s)):
            due = t0 + number / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= max_in_flight:
                self.not_sent += 1
                continue
            task = asyncio.create_task(self.request(op, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.gather(*in_flight)


async def cell_requests(
    topology_name: str,
    *,
    op: str,
    concurrency: int,
    rate: float | None,
    duration_s: float,
    profile_dir: str | None,
) -> dict[str, Any]:
    """`POST /v1/tasks` (or `GET /v1/tasks/{id}`) alone on one API process with its workers off.

    Closed loop: `concurrency` clients back to back. Open loop (`rate`): one request every 1/rate s, latency
    counted from when it was due, at most `concurrency` in flight (the others are counted as not sent).
    """
    topology = TOPOLOGIES[topology_name]
    single = Topology(apis=1, workers=0, postgres=topology.postgres)
    async with stack(single, workers_on=False) as st, http_session(concurrency + 16) as http:
        agent_id = await st.agent(http, llm_model(0))
        load = Requests(http, st.apis[0], st.key_headers, agent_id)
        for _ in range(50):  # warm-up, and the task a GET cell reads
            await load.request("create", time.perf_counter())
        load.latencies_ms.clear()
        load.errors.clear()
        meter = Meter(st.servers())
        label = f"requests-{op}-{topology_name}-{'rate' if rate else 'c'}{int(rate or concurrency)}"
        meter.start(profile_dir=profile_dir, profile_s=duration_s, label=label)
        t0 = time.perf_counter()
        async with asyncio.timeout(duration_s + 120):
            if rate is None:
                await load.closed_loop(op, concurrency, t0 + duration_s)
            else:
                await load.open_loop(op, rate, concurrency, t0, duration_s)
        wall = time.perf_counter() - t0
        measured = meter.stop(len(load.latencies_ms) + sum(load.errors.values()))
    return {
        "cell": "requests",
        "op": op,
        "topology": topology_name,
        "setup": topology.describe(workers_on=False),
        "concurrency": concurrency,
        "rate": rate,
        "duration_s": duration_s,
        "wall_s": round(wall, 2),
        "requests": len(load.latencies_ms),
        "requests_per_s": round(len(load.latencies_ms) / wall, 1),
        "p50_ms": _percentile(load.latencies_ms, 50),
        "p99_ms": _percentile(load.latencies_ms, 99),
        "errors": dict(load.errors),
        "not_sent": load.not_sent,
        **measured,
    }


_CREATED_AT = b'"created_at":"'


def _created_at(data: bytes) -> float:
    """An event's `created_at` (epoch seconds), found without parsing the whole JSON (cheap per event)."""
    start = data.rfind(_CREATED_AT)
    if start < 0:
        return float(dt.datetime.fromisoformat(json.loads(data)["created_at"]).timestamp())
    start += len(_CREATED_AT)
    return dt.datetime.fromisoformat(data[start : data.index(b'"', start)].decode()).timestamp()


@dataclass
class Followers:
    """The followers of a fan-out cell: how many got their stream, what they received, and when."""

    http: aiohttp.ClientSession
    base: str
    headers: dict[str, str]
    task_ids: list[str]
    total: int
    all_settled: asyncio.Event = field(default_factory=asyncio.Event)
    connecting: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(200))
    opened: int = 0  # streams answered 200, ever
    open_now: int = 0
    peak_open: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # before a stream opened: status or error
    outcomes: Counter[str] = field(default_factory=Counter)  # of opened streams: terminal, truncated, error
    events: int = 0
    delays_ms: list[float] = field(default_factory=list)
    by_type: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    async def follower(self, number: int) -> None:
        """Follow one task's stream to its end; at most 200 followers are connecting at once."""
        opened_at: float | None = None

        def on_open(at: float) -> None:
            nonlocal opened_at
            opened_at = at
            self.opened += 1
            self.open_now += 1
            self.peak_open = max(self.peak_open, self.open_now)
            self._settle()
            self.connecting.release()  # the next follower may connect

        def on_event(kind: str, data: bytes, received: float) -> None:
            self.events += 1
            if kind == "step.started" or opened_at is None:
                return
            created_at = _created_at(data)
            if created_at >= opened_at:
                delay = (received - created_at) * 1000
                self.delays_ms.append(delay)
                self.by_type[kind].append(delay)

        await self.connecting.acquire()
        task_id = self.task_ids[number % len(self.task_ids)]
        try:
            outcome, _ = await follow(
                self.http, self.base, self.headers, task_id, on_event=on_event, on_open=on_open
            )
        except aiohttp.ClientError as exc:
            outcome = type(exc).__name__
        finally:
            if opened_at is None:
                self.connecting.release()
            else:
                self.open_now -= 1
        if opened_at is not None:
            self.outcomes[outcome] += 1
        else:
            self.refused[outcome] += 1
            self._settle()

    def _settle(self) -> None:
        if self.opened + sum(self.refused.values()) >= self.total:
            self.all_settled.set()


async def cell_fanout(
    topology_name: str, *, followers: int, tasks: int, hold_s: float | None, profile_dir: str | None
) -> dict[str, Any]:
    """`followers` event streams over `tasks` running tasks, on one API process.

    The tasks' LLM answers after `hold_s` (the mock's latency) and then streams 20 tokens over 2 s, so the
    followers are established while the tasks wait and then receive their events live. The delay of an event
    is its receipt time minus its `created_at` (the writer's clock, just before its commit), counted for
    events created after the follower's stream opened; `step.started` events are left out (their
    `created_at` is the step's start, written later with its result).
    """
    topology = TOPOLOGIES[topology_name]
    if topology.apis != 1:
        raise ValueError("fan-out runs on one API process: topology a or b")
    hold = hold_s if hold_s is not None else max(10.0, followers / 150)
    async with stack(topology) as st, http_session(followers + 16) as http:
        agent_id = await st.agent(http, llm_model(int(hold * 1000), tps=10))
        base, headers = st.apis[0], st.key_headers
        ids: list[str] = []
        body = {"agent_id": agent_id, "input": {"message": "fan out"}}
        for _ in range(tasks):
            async with http.post(f"{base}/v1/tasks", json=body, headers=headers) as response:
                if response.status != 201:
                    raise RuntimeError(f"POST /v1/tasks: {response.status} {await response.text()}")
                ids.append(str((await response.json())["id"]))
        created = time.perf_counter()  # the hold runs from about here
        api = next(p for p in st.procs if p.name.startswith("api"))
        meter = Meter(st.servers())
        meter.start(profile_dir=profile_dir, profile_s=hold + 10, label=f"fanout-{topology_name}-{followers}")
        crowd = Followers(http, base, headers, ids, followers)
        t0 = time.perf_counter()
        runners = [asyncio.create_task(crowd.follower(i)) for i in range(followers)]
        established_after, rss_established = None, 0.0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(hold + 60):
                await crowd.all_settled.wait()  # every stream opened or was refused
                established_after = round(time.perf_counter() - t0, 2)
                rss_established = api.rss_mib()
                await asyncio.gather(*runners)
        cut = sum(1 for r in runners if not r.done())
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
        measured = meter.stop(followers)
    delays = crowd.delays_ms
    return {
        "cell": "fanout",
        "topology": topology_name,
        "setup": topology.describe(),
        "followers": followers,
        "tasks": tasks,
        "hold_s": hold,
        "established": crowd.opened,
        "peak_open": crowd.peak_open,
        "refused": dict(crowd.refused),
        "established_after_s": established_after,
        "outcomes": dict(crowd.outcomes),
        "cut_at_deadline": cut,
        "events_received": crowd.events,
        "delay_events": len(delays),
        "delay_p50_ms": _percentile(delays, 50),
        "delay_p95_ms": _percentile(delays, 95),
        "delay_p99_ms": _percentile(delays, 99),
        "delay_max_ms": round(max(delays), 1) if delays else None,
        "delay_p50_by_type_ms": {kind: _percentile(values, 50) for kind, values in crowd.by_type.items()},
        "api_rss_established_mib": round(rss_established, 1),
        # The answers began before every follower was there: the late ones saw part of them as backlog.
        "establishing_outlived_hold": established_after is None or t0 + established_after > created + hold,
        **measured,
    }


# --- profiles -------------------------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# Leaves of threads that wait (py-spy counts an idle anyio or executor thread as busy): left out.
_IDLE_LEAVES = ("Condition.wait", "Event.wait", "select", "poll", "_worker", "sleep")


def _idle_lines() -> set[tuple[str, str]]:
    """(file, line) of waits py-spy sees as busy: an aiosqlite connection thread waiting for work."""
    with contextlib.suppress(ImportError, OSError):
        import aiosqlite.core

        source = Path(aiosqlite.core.__file__).read_text().splitlines()
        return {("aiosqlite/core.py", str(n)) for n, line in enumerate(source, 1) if "= tx.get()" in line}
    return set()


def _module_of(path: str, depth: int = 2) -> str:
    """A frame file's module, `depth` names deep (3 for ours): `sqlalchemy.orm`, `agentic.api.security`."""
    path = path.replace("\\", "/")
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    if parts[0] == "agentic":
        depth += 1
    return ".".join(parts[:depth])


def summarise_profile(path: str, top: int = 25, under: str | None = None) -> str:
    """Where the samples of a py-spy `--format raw` file go: functions by own time, packages and modules by
    own and inclusive time (the share of samples with the module anywhere on the stack). With `under`, only
    the samples whose stack has a frame of that function name (shares stay of every busy sample)."""
    own: Counter[str] = Counter()
    own_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    inclusive_package: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = idle = 0
    idle_lines = _idle_lines()
    for line in Path(path).read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = [m for f in stack_text.split(";") if (m := _FRAME.match(f))]
        if not frames:
            continue
        count = int(count_text)
        leaf = frames[-1]
        if leaf["func"].endswith(_IDLE_LEAVES) or (leaf["file"], leaf["line"]) in idle_lines:
            idle += count
            continue
        total += count
        if under is not None:
            at = next((i for i, m in enumerate(frames) if m["func"] == under), None)
            if at is None:
                continue
            frames = frames[at + 1 :] or frames[at:]
            leaf = frames[-1]
        own[f"{leaf['func']} ({_module_of(leaf['file'])})"] += count
        own_package[_module_of(leaf["file"], 1)] += count
        for module in {_module_of(m["file"]) for m in frames}:
            inclusive[module] += count
        for package in {_module_of(m["file"], 1) for m in frames}:
            inclusive_package[package] += count
        # The innermost frame of our code, with what it calls; a stack without one (the ORM's work that
        # greenlet_spawn runs, sampled apart from its caller) is named after its first frame.
        mine = next((m for m in reversed(frames) if _module_of(m["file"]).startswith("agentic.")), None)
        if mine is not None:
            ours[f"{mine['func']} ({_module_of(mine['file'])})"] += count
        else:
            ours[f"[no agentic frame] {frames[0]['func']} ({_module_of(frames[0]['file'])})"] += count
    total = max(total, 1)

    def table(title: str, counter: Counter[str]) -> list[str]:
        rows = [f"  {n * 100 / total:5.1f}%  {name}" for name, n in counter.most_common(top)]
        return ["", f"{title}:", *rows]

    head = f"## {path}: {total} busy samples ({idle} idle-thread samples left out)"
    if under is not None:
        head += f"; only the stacks under {under}: {sum(own.values()) * 100 / total:.1f}%"
    return "\n".join(
        [
            head,
            *table("own time, by function", own),
            *table("inclusive, by the innermost function of agentic on the stack", ours),
            *table("own time, by package", own_package),
            *table("inclusive, by package", inclusive_package),
            *table("inclusive, by module", inclusive),
        ]
    )


# --- orchestration --------------------------------------------------------------------------------------


def _cell(args: list[str], timeout_s: float) -> dict[str, Any] | None:
    """Run one cell in a fresh process (its own process group); its JSON line, or None if it failed."""
    _log(f"  running: cell {' '.join(args)}")
    child = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "bench.e2e", "cell", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the cell and the servers it started
        child.communicate()
        _log(f"  cell {args} timed out after {timeout_s:.0f} s")
        return {"cell": args[0], "args": args, "failed": f"timed out after {timeout_s:.0f} s"}
    if child.returncode != 0:
        _log(f"  cell {args} failed:\n{err[-3000:]}")
        return {"cell": args[0], "args": args, "failed": err.strip().splitlines()[-1] if err.strip() else "?"}
    result = dict(json.loads(out.strip().splitlines()[-1]))
    _log("  " + json.dumps(result))
    return result


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 100 else f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) or "0"
    return str(value)


def _per_process(result: dict[str, Any], key: str, skip: tuple[str, ...] = ()) -> str:
    values = result.get(key, {})
    return ", ".join(f"{name} {_fmt(v)}" for name, v in values.items() if name not in skip)


def _row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def _header(*names: str) -> None:
    _row(*names)
    _row(*("---" for _ in names))


def _failed(r: dict[str, Any], columns: int) -> bool:
    if "failed" in r:
        _row(" ".join(r.get("args", [])), f"failed: {r['failed']}", *([""] * (columns - 2)))
    return "failed" in r


def print_tables(results: list[dict[str, Any]]) -> None:
    """Markdown tables of the cells' results (failed cells say why)."""
    runs = [r for r in results if r.get("cell") == "runs"]
    if runs:
        print("\n### Runs end to end (create → terminal event over SSE)\n")
        _header(
            "topology", "LLM latency", "clients", "runs", "runs/s", "p50 ms", "p95 ms", "p99 ms", "errors",
            "truncated", "CPU ms/run", "peak RSS MiB",
        )  # fmt: skip
        for r in runs:
            if _failed(r, 12):
                continue
            errors = sum(r["errors"].values())
            detail = f"{errors} ({_fmt(r['errors'])})" if errors else "0"
            if failed := r["outcomes"].get("task.failed", 0):
                detail += f"; task.failed {failed}"
            _row(
                f"{r['topology']}: {r['setup']}", f"{r['llm_latency_ms']} ms", r["clients"], _fmt(r["runs"]),
                _fmt(r["runs_per_s"]), _fmt(r["p50_ms"]), _fmt(r["p95_ms"]), _fmt(r["p99_ms"]), detail,
                r["truncated"], _per_process(r, "cpu_ms_per_unit"),
                _per_process(r, "peak_rss_mib", ("mock-llm",)),
            )  # fmt: skip
    requests = [r for r in results if r.get("cell") == "requests"]
    if requests:
        print("\n### One endpoint alone (one API process, workers off)\n")
        _header(
            "request", "database", "load", "requests", "req/s", "p50 ms", "p99 ms", "errors", "not sent",
            "CPU ms/req",
        )  # fmt: skip
        for r in requests:
            if _failed(r, 10):
                continue
            load = f"{r['concurrency']} concurrent"
            if r["rate"]:
                load = f"{_fmt(r['rate'])} req/s (≤ {r['concurrency']} in flight)"
            _row(
                "POST /v1/tasks" if r["op"] == "create" else "GET /v1/tasks/{id}",
                "PostgreSQL" if r["topology"] != "a" else "SQLite", load, _fmt(r["requests"]),
                _fmt(r["requests_per_s"]), _fmt(r["p50_ms"]), _fmt(r["p99_ms"]), _fmt(r["errors"]),
                r["not_sent"], _per_process(r, "cpu_ms_per_unit", ("client",)),
            )  # fmt: skip
    fanout = [r for r in results if r.get("cell") == "fanout"]
    if fanout:
        print("\n### SSE fan-out (one API process)\n")
        _header(
            "topology", "followers", "established", "refused", "outcomes", "delay p50 / p99 / max ms",
            "API RSS MiB (established / peak)",
        )  # fmt: skip
        for r in fanout:
            if _failed(r, 7):
                continue
            api = next(v for k, v in r["peak_rss_mib"].items() if k.startswith("api"))
            _row(
                f"{r['topology']}: {r['setup']}", f"{r['followers']:,} on {r['tasks']} tasks",
                _fmt(r["established"]), _fmt(r["refused"]), _fmt(r["outcomes"]),
                f"{_fmt(r['delay_p50_ms'])} / {_fmt(r['delay_p99_ms'])} / {_fmt(r['delay_max_ms'])}",
                f"{_fmt(r['api_rss_established_mib'])} / {_fmt(api)}",
            )  # fmt: skip


def orchestrate(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The selected cells, each in a fresh process; then the tables."""
    quick = args.quick
    duration = args.duration or (4.0 if quick else 20.0)
    clients = args.clients or ([1, 10] if quick else [1, 10, 50, 200])
    latencies = args.latencies if args.latencies is not None else ([0] if quick else [0, 500])
    topologies = args.topologies or (["a", "b"] if quick else ["a", "b", "c"])
    only = set(args.only or ["runs", "requests", "fanout"])
    extra = ["--profile-dir", args.profile_dir] if args.profile_dir else []
    results: list[dict[str, Any]] = []
    if "runs" in only:
        for latency in latencies:
            for topology in topologies:
                for n in clients:
                    cell = ["runs", "--topology", topology, "--clients", str(n), "--latency-ms", str(latency)]
                    cell += ["--duration", str(duration), *extra]
                    results.append(_cell(cell, duration + 400) or {})
    if "requests" in only:
        for topology in [t for t in topologies if t in ("a", "b")]:
            # Closed loop at 50 connections; open loop at 50 req/s (under capacity: the p99 of a steady load)
            # and at 500 req/s (over it: what overload does).
            rates = [] if quick else [["--rate", r, "--concurrency", "1000"] for r in ("50", "500")]
            loads = [["--concurrency", "50"], *rates]
            for op in ("create", "get"):
                for load in loads if op == "create" else loads[:1]:
                    cell = [
                        "requests",
                        "--topology",
                        topology,
                        "--op",
                        op,
                        *load,
                        "--duration",
                        str(duration),
                    ]
                    results.append(_cell([*cell, *extra], duration + 300) or {})
    if "fanout" in only:
        for followers in [200] if quick else [1000, 5000]:
            cell = ["fanout", "--topology", "b", "--followers", str(followers), *extra]
            results.append(_cell(cell, 600) or {})
    return results


def main() -> None:
    """Parse the command line: orchestrate, run one cell, or summarise profiles."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller N and seconds per cell (a smoke run)")
    parser.add_argument("--json", action="store_true", help="also print every cell's result as JSON")
    parser.add_argument("--only", nargs="+", choices=["runs", "requests", "fanout"])
    parser.add_argument("--topologies", nargs="+", choices=sorted(TOPOLOGIES))
    parser.add_argument("--clients", nargs="+", type=int)
    parser.add_argument("--latencies", nargs="+", type=int, help="mock LLM latencies, ms (default 0 500)")
    parser.add_argument("--duration", type=float, help="seconds of load per cell (default 20, quick 4)")
    parser.add_argument("--profile-dir", help="record each server process with py-spy into this directory")
    sub = parser.add_subparsers(dest="command")
    cell = sub.add_parser("cell", help="run one cell in this process and print its JSON line")
    cell.add_argument("kind", choices=["runs", "requests", "fanout"])
    cell.add_argument("--topology", choices=sorted(TOPOLOGIES), default="a")
    cell.add_argument("--clients", type=int, default=10)
    cell.add_argument("--latency-ms", type=int, default=0)
    cell.add_argument("--duration", type=float, default=20.0)
    cell.add_argument("--max-runs", type=int, default=1_000_000)
    cell.add_argument("--run-timeout", type=float, default=60.0, help="per run, create to terminal event")
    cell.add_argument("--op", choices=["create", "get"], default="create")
    cell.add_argument("--concurrency", type=int, default=50)
    cell.add_argument("--rate", type=float)
    cell.add_argument("--followers", type=int, default=1000)
    cell.add_argument("--tasks", type=int, default=50)
    cell.add_argument("--hold", type=float, help="fan-out: seconds before the tasks' LLM answers")
    cell.add_argument("--profile-dir")
    profile = sub.add_parser("profile", help="summarise py-spy --format raw files")
    profile.add_argument("files", nargs="+")
    profile.add_argument("--top", type=int, default=25)
    profile.add_argument("--under", help="only the stacks through this function (e.g. authenticate_api_key)")
    args = parser.parse_args()

    if args.command == "profile":
        for path in args.files:
            print(summarise_profile(path, args.top, args.under) + "\n")
        return
    _raise_open_files_limit()
    if args.command == "cell":
        runner: Awaitable[dict[str, Any]]
        if args.kind == "runs":
            runner = cell_runs(
                args.topology,
                clients=args.clients,
                latency_ms=args.latency_ms,
                duration_s=args.duration,
                max_runs=args.max_runs,
                run_timeout_s=args.run_timeout,
                profile_dir=args.profile_dir,
            )
        elif args.kind == "requests":
            runner = cell_requests(
                args.topology,
                op=args.op,
                concurrency=args.concurrency,
                rate=args.rate,
                duration_s=args.duration,
                profile_dir=args.profile_dir,
            )
        else:
            runner = cell_fanout(
                args.topology,
                followers=args.followers,
                tasks=args.tasks,
                hold_s=args.hold,
                profile_dir=args.profile_dir,
            )
        print(json.dumps(_run(runner)))
        return
    results = orchestrate(args)
    print_tables(results)
    if args.json:
        print("\n" + json.dumps(results, indent=1))


def _run(awaitable: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    async def wrapped() -> dict[str, Any]:
        return await awaitable

    try:
        import uvloop
    except ImportError:
        return asyncio.run(wrapped())
    return uvloop.run(wrapped())


if __name__ == "__main__":
    main()
