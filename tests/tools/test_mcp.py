"""The MCP client (`agentic.tools.mcp`) against real MCP servers, no mocks.

* stdio: the published `mcp-server-time` and `mcp-server-git` (dev dependencies), and the SDK-built test
  server in `tests/support/mcp_servers.py`, run through the venv's interpreter (no network needed);
* streamable HTTP: the same test server run by uvicorn in a subprocess on 127.0.0.1, behind a bearer token;
* failure paths: a server that never answers (with a grandchild, to prove the whole process group goes), a
  cancelled call, a command that does not exist, a server that exits at once, a refused outbound policy.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentic.errors import AgenticError, InvalidInput
from agentic.tools.http import OutboundPolicy, OutboundRefused
from agentic.tools.mcp import HttpServer, McpTool, StdioServer, call_tool, list_tools
from tests.support.mcp_servers import SCRIPT, HttpMcpServer, run_http_server

PYTHON = sys.executable
VENV_BIN = str(Path(PYTHON).parent)
TIME_SERVER = StdioServer(PYTHON, ("-m", "mcp_server_time"))
TEST_SERVER = StdioServer(PYTHON, (str(SCRIPT), "stdio"))

CANARY_NAME = "AGENTIC_MCP_CANARY"
CANARY_VALUE = f"canary-{uuid.uuid4().hex}"

# Starts a grandchild, records both pids in argv[1], then never says a word. With argv[2] == "stubborn", both
# ignore SIGTERM (the disposition is inherited across exec).
HANG = """
import os, signal, subprocess, sys, time
if sys.argv[2:] == ["stubborn"]:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()} {child.pid}")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
"""


def _process_alive(pid: int) -> bool:
    """Whether `pid` runs: a zombie awaiting its (new) parent is dead; one of ours would fail `_reaped`."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _reaped(pid: int) -> bool:
    """Gone from the process table: not running and not a zombie left unreaped."""
    return not Path(f"/proc/{pid}").exists()


def _read_pids(path: Path) -> tuple[int, int] | None:
    if not path.exists():
        return None
    leader, child = path.read_text().split()
    return int(leader), int(child)


def _exists(path: str) -> bool:
    return Path(path).exists()


async def _pids_when_written(path: Path) -> tuple[int, int]:
    for _ in range(500):
        if pids := _read_pids(path):
            return pids
        await asyncio.sleep(0.01)
    raise AssertionError("the hanging server never wrote its pids")


async def _all_dead(*pids: int, within_s: float = 2.0) -> bool:
    deadline = time.monotonic() + within_s
    while any(_process_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


# --- mcp-server-time over stdio -----------------------------------------------------------------------------


async def test_time_server_lists_its_tools() -> None:
    tools = await list_tools(TIME_SERVER)

    by_name = {tool.name: tool for tool in tools}
    assert "get_current_time" in by_name
    tool = by_name["get_current_time"]
    assert isinstance(tool, McpTool)
    assert tool.description
    assert tool.input_schema["type"] == "object"
    assert "timezone" in tool.input_schema["properties"]


async def test_time_server_tells_the_time_in_utc() -> None:
    result = await call_tool(TIME_SERVER, "get_current_time", {"timezone": "UTC"})

    assert result["is_error"] is False
    assert result["truncated"] is False
    structured = result["structured"]
    assert structured["timezone"] == "UTC"
    told = datetime.fromisoformat(structured["datetime"])
    assert abs((told - datetime.now(UTC)).total_seconds()) < 120
    assert [part["type"] for part in result["content"]] == ["text"]
    assert structured["datetime"] in result["content"][0]["text"]


async def test_time_server_reports_a_bad_timezone_as_a_tool_error() -> None:
    result = await call_tool(TIME_SERVER, "get_current_time", {"timezone": "Not/AZone"})

    assert result["is_error"] is True
    assert result["structured"] is None
    assert "Invalid timezone" in result["content"][0]["text"]


async def test_unknown_tool_is_a_protocol_error() -> None:
    with pytest.raises(AgenticError) as caught:
        await call_tool(TIME_SERVER, "no_such_tool", {})

    assert caught.value.code == "mcp_error"
    assert "Unknown tool: no_such_tool" in caught.value.message


# --- mcp-server-git over stdio ------------------------------------------------------------------------------


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A repository with one commit, made without the developer's git configuration."""
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)  # noqa: S603, S607

    git("init", "-q", "-b", "main")
    (repo / "README.md").write_text("hello\n")
    git("add", "README.md")
    git("-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "first commit")
    (repo / "new.txt").write_text("untracked\n")
    return repo


async def test_git_server_lists_tools_and_reads_the_repository(git_repo: Path) -> None:
    server = StdioServer(PYTHON, ("-m", "mcp_server_git", "--repository", str(git_repo)))

    names = {tool.name for tool in await list_tools(server)}
    assert {"git_status", "git_log", "git_diff", "git_commit"} <= names

    status = await call_tool(server, "git_status", {"repo_path": str(git_repo)})
    assert status["is_error"] is False
    assert "On branch main" in status["content"][0]["text"]
    assert "new.txt" in status["content"][0]["text"]

    log = await call_tool(server, "git_log", {"repo_path": str(git_repo), "max_count": 5})
    assert log["is_error"] is False
    assert "first commit" in log["content"][0]["text"]


# --- the SDK's own server over streamable HTTP --------------------------------------------------------------


@pytest.fixture(scope="module")
def http_server() -> Iterator[HttpMcpServer]:
    with run_http_server() as server:
        yield server


def _authorised(server: HttpMcpServer) -> HttpServer:
    return HttpServer(server.url, {"Authorization": f"Bearer {server.token}"})


async def test_http_lists_and_calls_tools(http_server: HttpMcpServer) -> None:
    server = _authorised(http_server)

    names = [tool.name for tool in await list_tools(server)]
    assert {"add", "authorization", "media", "fail", "sleep"} <= set(names)

    result = await call_tool(server, "add", {"a": 2, "b": 40})
    assert result == {
        "content": [{"type": "text", "text": "42"}],
        "structured": {"result": 42},
        "is_error": False,
        "truncated": False,
    }


async def test_concurrent_calls_are_independent(http_server: HttpMcpServer) -> None:
    server = _authorised(http_server)

    results = await asyncio.gather(*(call_tool(server, "add", {"a": i, "b": i}) for i in range(8)))

    assert [result["structured"]["result"] for result in results] == [2 * i for i in range(8)]


async def test_http_sends_the_configured_headers(http_server: HttpMcpServer) -> None:
    result = await call_tool(_authorised(http_server), "authorization", {})

    assert result["content"][0]["text"] == f"Bearer {http_server.token}"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-secret-value"}])
async def test_http_rejected_credentials_are_reported_without_header_values(
    http_server: HttpMcpServer, headers: dict[str, str]
) -> None:
    with pytest.raises(AgenticError) as caught:
        await list_tools(HttpServer(http_server.url, headers), timeout_s=10)

    assert caught.value.code == "mcp_error"
    assert "HTTP 401" in caught.value.message
    assert caught.value.details["http_status"] == 401
    assert "wrong-secret-value" not in f"{caught.value.message} {caught.value.details}"


async def test_binary_content_is_summarised_not_inlined(http_server: HttpMcpServer) -> None:
    result = await call_tool(_authorised(http_server), "media", {})

    assert result["content"] == [
        {"type": "text", "text": "here you go"},
        {"type": "image", "mime_type": "image/png", "bytes": 70},
        {"type": "audio", "mime_type": "audio/wav", "bytes": 44},
        {"type": "resource", "uri": "file:///notes.txt", "mime_type": "text/plain", "text": "notes"},
        {
            "type": "resource",
            "uri": "file:///zeros.bin",
            "mime_type": "application/octet-stream",
            "bytes": 1000,
        },
        {
            "type": "resource_link",
            "uri": "file:///big.csv",
            "name": "big.csv",
            "mime_type": "text/csv",
            "description": None,
        },
    ]


async def test_text_is_capped_over_all_parts(http_server: HttpMcpServer) -> None:
    server = _authorised(http_server)

    result = await call_tool(server, "long_text", {"n": 1000}, max_chars=100)
    first, second = result["content"]
    assert first["text"] == "a" * 100 + "\n[truncated: 890 more characters]"
    assert second["text"] == "[truncated: 10 more characters]"
    assert result["truncated"] is True

    whole = await call_tool(server, "long_text", {"n": 1000}, max_chars=1000)
    assert whole["truncated"] is False
    assert [len(part["text"]) for part in whole["content"]] == [990, 10]


async def test_structured_content_too_large_is_dropped(http_server: HttpMcpServer) -> None:
    result = await call_tool(_authorised(http_server), "add", {"a": 1, "b": 2}, max_chars=5)

    assert result["structured"] is None  # {"result": 3} is 13 characters of JSON
    assert result["content"] == [{"type": "text", "text": "3"}]
    assert result["truncated"] is True


async def test_http_tool_failure_is_a_result_not_an_exception(http_server: HttpMcpServer) -> None:
    result = await call_tool(_authorised(http_server), "fail", {"message": "the disk is full"})

    assert result["is_error"] is True
    assert "the disk is full" in result["content"][0]["text"]


async def test_http_call_times_out(http_server: HttpMcpServer) -> None:
    started = time.monotonic()
    with pytest.raises(AgenticError) as caught:
        await call_tool(_authorised(http_server), "sleep", {"seconds": 10}, timeout_s=1)

    assert caught.value.code == "mcp_timeout"
    assert time.monotonic() - started < 2.5


async def test_http_unreachable_server_is_unavailable() -> None:
    with pytest.raises(AgenticError) as caught:
        await list_tools(HttpServer("http://127.0.0.1:9/mcp?key=query-secret"), timeout_s=5)

    assert caught.value.code == "mcp_unavailable"
    assert "http://127.0.0.1:9/mcp" in caught.value.message
    assert "query-secret" not in caught.value.message


async def test_http_policy_allows_what_it_exempts(http_server: HttpMcpServer) -> None:
    policy = OutboundPolicy(
        allowed_ports=frozenset({http_server.port}), allow_private_networks=frozenset({"127.0.0.1/32"})
    )

    result = await call_tool(_authorised(http_server), "add", {"a": 1, "b": 1}, policy=policy)

    assert result["structured"] == {"result": 2}


@pytest.mark.parametrize(
    ("url", "exempt", "code"),
    [
        ("http://127.0.0.1:{port}/mcp", False, "ssrf_refused"),
        ("http://0x7f.1:{port}/mcp", False, "ssrf_refused"),
        ("http://localhost:{port}/mcp", True, "ssrf_refused"),
        ("http://127.0.0.1:{port}/mcp", True, "port_refused"),
    ],
)
async def test_http_policy_refuses_before_connecting(
    http_server: HttpMcpServer, url: str, exempt: bool, code: str
) -> None:
    ports = frozenset({80}) if code == "port_refused" else frozenset({http_server.port})
    policy = OutboundPolicy(
        allowed_ports=ports, allow_private_networks=frozenset({"127.0.0.1/32"} if exempt else ())
    )

    with pytest.raises(OutboundRefused) as caught:
        await list_tools(HttpServer(url.format(port=http_server.port)), policy=policy)

    assert caught.value.code == code


def test_specs_refuse_what_can_never_work() -> None:
    with pytest.raises(InvalidInput):
        HttpServer("ftp://example.com/mcp")
    with pytest.raises(InvalidInput):
        HttpServer("https://example.com/mcp", {"Host": "internal"})
    with pytest.raises(InvalidInput):
        HttpServer("https://example.com/mcp", {"X-Token": "a\r\nInjected: yes"})
    with pytest.raises(InvalidInput):
        StdioServer("")
    with pytest.raises(InvalidInput):
        StdioServer("server", env={"A=B": "c"})


def test_specs_never_show_secrets() -> None:
    http = HttpServer("https://user:pw@example.com/mcp?token=t0k", {"Authorization": "Bearer hunter2"})
    stdio = StdioServer("server", ("--api-key", "hunter3"), env={"API_KEY": "hunter4"})

    shown = f"{http!r} {stdio!r}"
    for secret in ("pw", "t0k", "hunter2", "hunter3", "hunter4"):
        assert secret not in shown
    assert "Authorization" in shown
    assert "API_KEY" in shown


# --- stdio process handling ---------------------------------------------------------------------------------


async def test_stdio_child_sees_only_the_given_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CANARY_NAME, CANARY_VALUE)
    server = StdioServer(PYTHON, (str(SCRIPT), "stdio"), env={"MCP_TEST_VAR": "passed"})

    result = await call_tool(server, "environment", {})

    environment = result["structured"]
    assert CANARY_NAME not in environment
    assert CANARY_VALUE not in str(result)
    assert environment["MCP_TEST_VAR"] == "passed"
    assert set(environment) == {"PATH", "HOME", "LANG", "MCP_TEST_VAR"}
    assert environment["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert not _exists(environment["HOME"])  # the per-call HOME is removed afterwards


async def test_stdio_server_is_reaped_after_a_successful_call() -> None:
    result = await call_tool(TEST_SERVER, "pid", {})

    pid = result["structured"]["result"]
    assert _reaped(pid)


async def test_stdio_command_is_looked_up_on_the_childs_path() -> None:
    by_name = StdioServer("mcp-server-time")  # a console script in our venv: not on the safe PATH
    with pytest.raises(AgenticError) as caught:
        await list_tools(by_name)
    assert caught.value.code == "mcp_unavailable"

    with_path = StdioServer("mcp-server-time", env={"PATH": f"{VENV_BIN}:/usr/bin:/bin"})
    assert "get_current_time" in {tool.name for tool in await list_tools(with_path)}


@pytest.mark.parametrize("stubborn", [False, True], ids=["plain", "ignores-sigterm"])
async def test_stdio_server_that_never_answers_times_out_and_is_killed(
    tmp_path: Path, stubborn: bool
) -> None:
    pid_file = tmp_path / "pids"
    server = StdioServer(PYTHON, ("-c", HANG, str(pid_file), *(["stubborn"] if stubborn else [])))

    started = time.monotonic()
    with pytest.raises(AgenticError) as caught:
        await list_tools(server, timeout_s=1.5)
    elapsed = time.monotonic() - started

    assert caught.value.code == "mcp_timeout"
    assert "1.5 s" in caught.value.message
    assert 1.5 <= elapsed < (3.0 if stubborn else 2.5)  # SIGKILL follows an ignored SIGTERM after 0.5 s
    leader, grandchild = await _pids_when_written(pid_file)
    assert _reaped(leader)  # no zombie left behind
    assert await _all_dead(grandchild)  # the whole process group went


async def test_cancelled_call_kills_the_server(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    server = StdioServer(PYTHON, ("-c", HANG, str(pid_file)))

    task = asyncio.create_task(list_tools(server, timeout_s=30))
    leader, grandchild = await _pids_when_written(pid_file)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert time.monotonic() - started < 1.5
    assert _reaped(leader)
    assert await _all_dead(grandchild)


@pytest.mark.parametrize(
    "server",
    [
        StdioServer("/nonexistent/mcp-server"),
        StdioServer("definitely-not-a-command-7f3a"),
        StdioServer(PYTHON, ("-m", "mcp_server_time"), cwd="/nonexistent/dir"),
    ],
    ids=["path", "name", "cwd"],
)
async def test_server_that_cannot_start_is_unavailable(server: StdioServer) -> None:
    started = time.monotonic()
    with pytest.raises(AgenticError) as caught:
        await list_tools(server, timeout_s=5)

    assert caught.value.code == "mcp_unavailable"
    assert "Cannot start MCP server" in caught.value.message
    assert time.monotonic() - started < 1


async def test_server_that_exits_at_once_is_unavailable_with_its_stderr() -> None:
    server = StdioServer(PYTHON, ("-c", "import sys; sys.exit('missing configuration: API_KEY')"))

    with pytest.raises(AgenticError) as caught:
        await list_tools(server, timeout_s=5)

    assert caught.value.code == "mcp_unavailable"
    assert "closed the connection" in caught.value.message
    assert caught.value.details["exit_code"] == 1
    assert "missing configuration: API_KEY" in caught.value.details["stderr_tail"]
