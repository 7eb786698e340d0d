"""Client side of the Model Context Protocol (MCP) for agent tools: list and call a registered server's tools.

An organisation registers MCP servers; agents call their tools. This module is the transport-level part
only: it takes a server spec (`StdioServer`: a command to run; `HttpServer`: a streamable-HTTP URL and
headers), opens a connection with the official `mcp` SDK (2.x), and returns plain, JSON-able data.

**One connection per call.** `list_tools` and `call_tool` each start the server (stdio) or open a session
(HTTP), do their one request and tear everything down. That costs a process start or a handshake per call,
but leaves no state between calls: nothing to leak across tenants, nothing to reconnect after a server dies,
no process outliving the call. A pooled, long-lived session per server is a later optimisation.

**Deadlines.** Every call runs under one hard deadline (`timeout_s`) covering process start or connect, the
protocol handshake and the request itself. Clean-up after the deadline is bounded too (see below), so a
timed-out call returns well within a second of its deadline. An answer that arrived in time is returned even
if closing the connection afterwards is slow (closing has bounded time of its own).

**Errors.** Transport and protocol failures raise `AgenticError` with code `mcp_timeout`, `mcp_unavailable`
(cannot start or reach the server, or it went away) or `mcp_error` (the server answered with a protocol error,
an HTTP error status, or something unreadable). Messages name the command or the URL's scheme, host, port and
path (plus, for a protocol error, the server's own message), never header values, query strings, URL
credentials, arguments or environment values, which may carry secrets; `details` may hold the HTTP status,
the exit code and the tail of the server's stderr. A spec that can never work (empty command, non-http URL,
forbidden header) raises `InvalidInput` when it is built. A failing *tool* is not an exception: the server
reports it in the result (`is_error` true), so the model can read it and correct itself.

**stdio servers** are spawned by this module rather than by the SDK's `stdio_client`, for two reasons: the
SDK always merges part of our own environment into the child's (``HOME``, ``PATH``, ``USER``, ``SHELL``...),
and its shutdown waits a fixed 2 s on stdin EOF and 2 s more after SIGTERM even when the call has already
timed out. Here:

* the child's environment is exactly `StdioServer.env` over a minimal base (``PATH``
  `/usr/local/bin:/usr/bin:/bin`, ``LANG`` `C.UTF-8`, ``HOME`` a fresh empty directory removed afterwards);
  nothing is inherited from this process, whose environment holds the platform's secrets. Pass ``PATH`` or
  ``HOME`` in `env` to override (e.g. to keep an ``npx``/``uvx`` cache between calls);
* the child runs in its own session and process group. When the call ends its stdin is closed (the MCP
  shutdown signal; after a successful call it gets 2 s to exit on its own); if it still runs, the group gets
  SIGTERM and up to 0.5 s to exit; then the whole group gets SIGKILL (so descendants the server left behind
  go too) and the server is reaped. This runs shielded from cancellation, so a timed-out or cancelled call
  never leaves the server or its children behind. (A descendant that starts a session of its own has left
  the group by design and is out of reach, as with any process supervisor.)

**HTTP servers** use the SDK's streamable-HTTP transport over an `httpx2` client created per call, with
`trust_env` off (no proxy variables, no ``.netrc`` credentials from our environment) and redirects followed
only within the URL's origin (the SDK's rule). SSRF policy is the caller's: pass `policy` to check the URL
with `agentic.tools.http` before connecting (scheme, port, credentials, domain allowlist, and every address
the host resolves to). With a policy the client's transport is `agentic.security.egress`'s: every connection
(a same-origin redirect's too) resolves through the tools' guard and connects only to the addresses it
checked, so a name that rebinds to an internal address after the check is refused when the connection opens.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import json
import math
import os
import re
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.abc
import anyio.to_thread
import httpx2
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import Client, MCPError
from mcp import types as mcp_types
from mcp.client import Transport
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage
from openai._vendor.httpx_aiohttp import AiohttpTransport  # the same vendored copy the LLM providers use
from pydantic import ValidationError

from agentic import __version__
from agentic.errors import AgenticError, InvalidInput
from agentic.security.egress import guarded_transport
from agentic.tools.http import OutboundPolicy, OutboundRefused, check_address, check_url, system_lookup

__all__ = ["HttpServer", "McpServerSpec", "McpTool", "StdioServer", "call_tool", "list_tools"]

# The child's whole environment before `StdioServer.env`: enough for a shell-less exec and UTF-8 output.
_SAFE_PATH: Final = "/usr/local/bin:/usr/bin:/bin"
_SAFE_LANG: Final = "C.UTF-8"

# Shutdown of a stdio server (see the module docstring).
_EOF_GRACE_S: Final = 2.0  # after a successful call: time to exit on stdin EOF, as the MCP spec asks
_TERM_GRACE_S: Final = 0.5  # after SIGTERM to the group, before SIGKILL
# For the event loop to see the killed leader exit; only an unkillable (uninterruptible) process runs it out.
_REAP_S: Final = 2.0
_POLL_S: Final = 0.01
_TEARDOWN_S: Final = 5.0  # for closing an HTTP session after the answer (stdio shutdown is bounded above)

# One stdio message (a line) larger than this ends the connection: a runaway server must not exhaust memory.
_MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024
_STDERR_TAIL_BYTES: Final = 2000  # of the server's stderr, kept for error details

_LIST_PAGES_MAX: Final = 100  # a server whose tool listing never ends cannot hang list_tools
_ERROR_MESSAGE_CHARS: Final = 500  # of a server-supplied error message

# Headers the caller may not set: the transport owns framing, the session id and the protocol version, and
# `Host` must match the URL that the SSRF policy checked.
_RESERVED_HEADERS: Final = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "proxy-connection",
        "mcp-session-id",
        "mcp-protocol-version",
    }
)
_HEADER_NAME: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_ENV_NAME: Final = re.compile(r"^[^=\x00]+$")

_T = TypeVar("_T")


# --- server specs ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StdioServer:
    """An MCP server run as a child process, speaking JSON-RPC lines over its stdin and stdout.

    Attributes:
        command: Executable: a path, or a name looked up on the child's ``PATH`` (the safe default, or
            ``env["PATH"]``), never on ours.
        args: Command-line arguments.
        env: The child's environment, over the minimal base described in the module docstring. Values may be
            secrets: they never appear in `repr` or error messages.
        cwd: Working directory; None for this process's.
    """

    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    cwd: str | None = None

    def __post_init__(self) -> None:
        if not self.command or "\x00" in self.command:
            raise InvalidInput("An MCP stdio server needs a command.")
        args = tuple(self.args)
        if any(not isinstance(arg, str) or "\x00" in arg for arg in args):
            raise InvalidInput("MCP stdio server arguments must be strings without NUL characters.")
        env = dict(self.env)
        for name, value in env.items():
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                raise InvalidInput("MCP stdio server environment variable names must not contain '=' or NUL.")
            if not isinstance(value, str) or "\x00" in value:
                raise InvalidInput(f"The value of environment variable {name} must be a string without NUL.")
        # Frozen means frozen: a copy the caller cannot mutate afterwards.
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "env", MappingProxyType(env))

    def __repr__(self) -> str:
        # Arguments and environment values often carry credentials (`--token X`, `postgres://user:pw@...`).
        return (
            f"StdioServer(command={self.command!r}, args=<{len(self.args)}>, "
            f"env_names={sorted(self.env)!r}, cwd={self.cwd!r})"
        )


@dataclass(frozen=True, slots=True)
class HttpServer:
    """An MCP server reached over streamable HTTP.

    Attributes:
        url: The MCP endpoint, http or https (e.g. ``https://mcp.example.com/mcp``).
        headers: Sent with every request (typically ``Authorization``). Values may be secrets: they never
            appear in `repr` or error messages.
    """

    url: str
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url.strip())
            parts.port  # noqa: B018  # parses the port: a bad one raises here, not mid-connect
        except ValueError:
            raise InvalidInput("The MCP server URL cannot be parsed.") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("An MCP server URL must be an http or https URL with a host.")
        headers = dict(self.headers)
        for name, value in headers.items():
            if not isinstance(name, str) or not _HEADER_NAME.match(name):
                raise InvalidInput("An MCP server header name is not a valid HTTP header name.")
            if name.lower() in _RESERVED_HEADERS:
                raise InvalidInput(f"The {name} header cannot be set on an MCP server.")
            if not isinstance(value, str) or any(ch in value for ch in "\r\n\x00"):
                raise InvalidInput(f"The value of the {name} header must be a single line of text.")
        object.__setattr__(self, "url", self.url.strip())
        object.__setattr__(self, "headers", MappingProxyType(headers))

    def __repr__(self) -> str:
        return f"HttpServer(url={_display_url(self.url)!r}, header_names={sorted(self.headers)!r})"


McpServerSpec = StdioServer | HttpServer


@dataclass(frozen=True, slots=True)
class McpTool:
    """One tool a server offers.

    Attributes:
        name: The name to pass to `call_tool`.
        description: What the tool does, for the model ("" when the server gives none).
        input_schema: JSON Schema of the tool's arguments (an object schema).
    """

    name: str
    description: str
    input_schema: dict[str, Any]


# --- public API --------------------------------------------------------------------------------------------


async def list_tools(
    server: McpServerSpec, *, timeout_s: float = 30.0, policy: OutboundPolicy | None = None
) -> list[McpTool]:
    """List the tools an MCP server offers (every page of the listing).

    Args:
        server: The server to ask.
        timeout_s: Hard deadline for the whole call: start or connect, handshake, listing.
        policy: For an `HttpServer`, check the URL against this outbound policy before connecting (see
            `agentic.tools.http`). Ignored for stdio servers.

    Returns:
        The tools, in the server's order.

    Raises:
        AgenticError: `mcp_timeout`, `mcp_unavailable` or `mcp_error` (see the module docstring).
        OutboundRefused: The policy refuses the URL.
    """

    async def listing(client: Client) -> list[McpTool]:
        tools: list[McpTool] = []
        cursor: str | None = None
        for _ in range(_LIST_PAGES_MAX):
            page = await client.list_tools(cursor=cursor)
            tools.extend(
                McpTool(name=t.name, description=t.description or "", input_schema=dict(t.input_schema))
                for t in page.tools
            )
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    return await _with_client(server, listing, timeout_s=timeout_s, policy=policy)


async def call_tool(
    server: McpServerSpec,
    name: str,
    arguments: dict[str, Any],
    *,
    timeout_s: float = 60.0,
    max_chars: int = 100_000,
    policy: OutboundPolicy | None = None,
) -> dict[str, Any]:
    """Call one tool on an MCP server and return its result as JSON-able data.

    Args:
        server: The server to call.
        name: The tool's name (from `list_tools`).
        arguments: The tool's arguments, matching its input schema.
        timeout_s: Hard deadline for the whole call: start or connect, handshake, tool run.
        max_chars: Text characters returned at most, over all text parts together; the cut part ends with
            a ``[truncated: N more characters]`` marker and later text parts are replaced by such a marker.
            Structured content whose JSON is longer than this is dropped (`structured` None).
        policy: For an `HttpServer`, check the URL against this outbound policy before connecting (see
            `agentic.tools.http`). Ignored for stdio servers.

    Returns:
        ``{"content": [...], "structured": ..., "is_error": bool, "truncated": bool}``. `content` holds one
        dict per content block: ``{"type": "text", "text": ...}``; ``{"type": "image" | "audio",
        "mime_type": ..., "bytes": n}`` (binary data is summarised, never inlined); ``{"type": "resource",
        "uri": ..., "mime_type": ..., "text": ...}`` or with ``"bytes"`` for a binary resource;
        ``{"type": "resource_link", "uri": ..., "name": ..., "mime_type": ..., "description": ...}``.
        `structured` is the server's structured content (None when absent or too large). `is_error` is the
        server's verdict that the tool failed.

    Raises:
        AgenticError: `mcp_timeout`, `mcp_unavailable` or `mcp_error` (see the module docstring).
        OutboundRefused: The policy refuses the URL.
        ValueError: `max_chars` is negative.
    """
    if max_chars < 0:
        raise ValueError("max_chars must not be negative")

    async def calling(client: Client) -> mcp_types.CallToolResult:
        return await client.call_tool(name, arguments)

    result = await _with_client(server, calling, timeout_s=timeout_s, policy=policy)
    return _tool_result(result, max_chars)


# --- one connection, one deadline -------------------------------------------------------------------------


@dataclass(slots=True)
class _Diagnostics:
    """What a transport saw, to explain a failure better than the SDK's exception can."""

    stderr_tail: bytearray = field(default_factory=bytearray)
    stdout_problem: str | None = None
    http_status: int | None = None
    exit_code: int | None = None


async def _with_client(
    server: McpServerSpec,
    operation: Callable[[Client], Awaitable[_T]],
    *,
    timeout_s: float,
    policy: OutboundPolicy | None,
) -> _T:
    """Connect, run `operation`, disconnect, all under one deadline; map failures to `AgenticError`."""
    if not (timeout_s > 0 and math.isfinite(timeout_s)):
        raise ValueError("timeout_s must be a positive number of seconds")
    diagnostics = _Diagnostics()
    answers: list[_T] = []
    failure: Exception | None = None
    with anyio.move_on_after(timeout_s) as deadline:
        try:
            async with AsyncExitStack() as stack:
                transport = await _transport(server, policy, diagnostics, stack, timeout_s)
                client = Client(
                    transport,
                    # No response cache: the client lives for one call.
                    cache=None,
                    client_info=mcp_types.Implementation(name="agentic", version=__version__),
                )
                await stack.enter_async_context(client)
                answers.append(await operation(client))
                # Answered in time: closing the session (a stdio server's exit, an HTTP DELETE) must not turn
                # the answer into a timeout, but gets bounded time of its own.
                deadline.deadline = anyio.current_time() + _TEARDOWN_S
        except InvalidInput:  # a policy refusal (OutboundRefused): already says what is wrong
            raise
        except Exception as exc:
            failure = exc
    if answers:
        return answers[0]  # whatever went wrong while closing is not the caller's concern
    # A failure that comes with the deadline's cancellation (a closed stream, a cancelled read) is the
    # deadline's doing.
    if deadline.cancel_called or failure is None:
        raise AgenticError(
            f"{_describe(server)} did not answer within {timeout_s:g} s.",
            code="mcp_timeout",
            details=_details(diagnostics),
        ) from None
    cause = _leaf(failure)
    error = _translate(cause, server, diagnostics)
    if error is cause:
        raise error
    raise error from cause


async def _transport(
    server: McpServerSpec,
    policy: OutboundPolicy | None,
    diagnostics: _Diagnostics,
    stack: AsyncExitStack,
    timeout_s: float,
) -> Transport:
    if isinstance(server, StdioServer):
        return _stdio_transport(server, diagnostics)
    url = server.url
    if policy is not None:
        url = await _checked_url(policy, url)

    async def record_status(response: httpx2.Response) -> None:
        # The SDK folds an HTTP error status into a generic JSON-RPC error; keep the last message's status to
        # report it. Only POSTs carry messages (the optional GET stream and the closing DELETE may be refused
        # harmlessly), and a success clears it (a refused protocol probe is followed by a fallback).
        if response.request.method == "POST":
            diagnostics.http_status = response.status_code if response.status_code >= 400 else None

    http = httpx2.AsyncClient(
        headers=dict(server.headers),
        timeout=httpx2.Timeout(timeout_s),
        # Our environment's proxy settings and ~/.netrc credentials are not the organisation's to use.
        trust_env=False,
        follow_redirects=False,  # the SDK follows same-origin redirects itself
        event_hooks={"response": [record_status]},
        # With a policy, connections are pinned to the addresses the guard checked when they open (so a name
        # that answers differently now than at the check above, DNS rebinding, is refused).
        transport=None if policy is None else guarded_transport(AiohttpTransport, policy),
    )
    await stack.enter_async_context(http)
    return streamable_http_client(url, http_client=http)


async def _checked_url(policy: OutboundPolicy, url: str) -> str:
    """Apply `policy` to `url`: everything `check_url` checks, and every address the host resolves to."""
    checked = check_url(policy, url)
    host = checked.raw_host or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return str(checked)  # an IP literal, checked (and made canonical) by check_url
    port = checked.port or (443 if checked.scheme == "https" else 80)
    try:
        with anyio.fail_after(policy.dns_timeout):
            answers = await system_lookup(host, port, 0)
    except TimeoutError:
        raise OutboundRefused("timeout", f"Resolving {host} timed out.") from None
    except OSError:
        raise OutboundRefused("dns_failed", f"Cannot resolve {host}.") from None
    if not answers:
        raise OutboundRefused("dns_failed", f"Cannot resolve {host}.")
    for _family, raw in answers:
        try:
            address = ipaddress.ip_address(raw.split("%", 1)[0])
        except ValueError:
            raise OutboundRefused(
                "ssrf_refused", f"Refused: {host} resolves to an unusable address."
            ) from None
        check_address(policy, address, host=host)
    return str(checked)


# --- stdio transport ---------------------------------------------------------------------------------------


def _child_env(server: StdioServer, home: str) -> dict[str, str]:
    return {"PATH": _SAFE_PATH, "HOME": home, "LANG": _SAFE_LANG, **server.env}


@asynccontextmanager
async def _stdio_transport(
    server: StdioServer, diagnostics: _Diagnostics
) -> AsyncIterator[
    tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
]:
    """Run `server` as a child process and bridge its stdio to the SDK's message streams."""
    home = tempfile.mkdtemp(prefix="agentic-mcp-home-")
    try:
        # Shielded: a deadline landing mid-spawn must not lose the handle of a started process.
        with anyio.CancelScope(shield=True):
            try:
                process = await anyio.open_process(
                    [server.command, *server.args],
                    env=_child_env(server, home),
                    cwd=server.cwd,
                    start_new_session=True,  # own process group: the clean-up kills the whole tree
                )
            except OSError as exc:
                raise _spawn_error(server, exc) from None
        to_session, from_transport = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        to_transport, from_session = anyio.create_memory_object_stream[SessionMessage](0)
        succeeded = stopped = False
        try:
            stdin, stdout, stderr = process.stdin, process.stdout, process.stderr
            if stdin is None or stdout is None or stderr is None:  # pragma: no cover  # opened with pipes
                raise RuntimeError("the MCP server process has no pipes")
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_pump_stdout, stdout, to_session, diagnostics)
                tasks.start_soon(_pump_stdin, stdin, from_session)
                tasks.start_soon(_pump_stderr, stderr, diagnostics)
                try:
                    yield from_transport, to_transport
                    succeeded = True
                finally:
                    # Stop delivering first: the stdout pump drains (and discards) from now on, so a server
                    # blocked writing its stdout can still see its stdin close and exit.
                    from_transport.close()
                    to_transport.close()
                    with anyio.CancelScope(shield=True):
                        await _stop_process(process, graceful=succeeded)
                    stopped = True
                    tasks.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                if not stopped:
                    await _stop_process(process, graceful=False)
                diagnostics.exit_code = process.returncode
                await _close_process(process)
    finally:
        # In a thread: the server may have filled its HOME (an npm cache, say); removing it must not stall
        # the event loop.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, home, ignore_errors=True))


def _spawn_error(server: StdioServer, exc: OSError) -> AgenticError:
    if exc.errno == errno.ENOENT:
        reason = "no such command (or working directory)"
    elif exc.errno == errno.EACCES:
        reason = "permission denied"
    else:
        reason = exc.strerror or type(exc).__name__
    return AgenticError(
        f"Cannot start MCP server {server.command!r}: {reason}.",
        code="mcp_unavailable",
        details={"command": server.command},
    )


async def _pump_stdout(
    stdout: anyio.abc.ByteReceiveStream,
    to_session: MemoryObjectSendStream[SessionMessage | Exception],
    diagnostics: _Diagnostics,
) -> None:
    """Split the server's stdout into JSON-RPC messages for the session; close the stream at EOF."""
    buffer = bytearray()
    delivering = True
    async with to_session:
        try:
            async for chunk in stdout:
                if not delivering:
                    continue  # the session is gone; keep the pipe drained so the server can exit
                buffer += chunk
                if b"\n" not in chunk:
                    if len(buffer) > _MAX_MESSAGE_BYTES:
                        diagnostics.stdout_problem = f"a message exceeded {_MAX_MESSAGE_BYTES} bytes"
                        return  # closing the stream ends the connection
                    continue
                lines = buffer.split(b"\n")
                buffer = lines.pop()
                for line in lines:
                    message = _parse_line(line, diagnostics)
                    if message is None:
                        continue
                    try:
                        await to_session.send(message)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        delivering = False
                        break
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            pass  # our own clean-up closed the pipe


def _parse_line(line: bytearray, diagnostics: _Diagnostics) -> SessionMessage | None:
    if not line.strip():
        return None
    try:
        message = mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValueError:
        # Like the SDK: a stray non-protocol line (a server logging to stdout) is skipped, not fatal.
        diagnostics.stdout_problem = "the server wrote lines to stdout that are not MCP messages"
        return None
    return SessionMessage(message)


async def _pump_stdin(
    stdin: anyio.abc.ByteSendStream, from_session: MemoryObjectReceiveStream[SessionMessage]
) -> None:
    """Write the session's messages to the server's stdin, one JSON line each."""
    async with from_session:
        try:
            async for session_message in from_session:
                line = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                await stdin.send(line.encode() + b"\n")
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            pass  # the server closed its stdin or died; the stdout pump's EOF ends the session


async def _pump_stderr(stderr: anyio.abc.ByteReceiveStream, diagnostics: _Diagnostics) -> None:
    """Keep the tail of the server's stderr for error details (and the pipe drained, so it never blocks)."""
    with suppress(anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
        async for chunk in stderr:
            diagnostics.stderr_tail += chunk
            del diagnostics.stderr_tail[:-_STDERR_TAIL_BYTES]


async def _stop_process(process: anyio.abc.Process, *, graceful: bool) -> None:
    """Stop the server and everything in its process group; return once the leader is reaped (or given up)."""
    if process.stdin is not None:
        with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await process.stdin.aclose()  # EOF: the MCP way to ask a stdio server to exit
    if graceful:
        await _wait_exit(process, _EOF_GRACE_S)
    # The leader's pid is the group id (start_new_session); a pid is not reused while a group still bears it.
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        await _wait_exit(process, _TERM_GRACE_S)
    # Always, even after a clean exit: descendants the leader left behind are still in the group. Judged by
    # the leader, not by the group's emptiness: killed grandchildren are re-parented to init and stay in the
    # group as zombies until init reaps them, which some container inits never do.
    _signal_group(process.pid, signal.SIGKILL)
    await _wait_exit(process, _REAP_S)


def _signal_group(pgid: int, signum: int) -> None:
    # ESRCH: the group is gone. EPERM: a member we may not signal; nothing more we can do about it.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


async def _wait_exit(process: anyio.abc.Process, timeout_s: float) -> bool:
    # Polls returncode rather than `process.wait()`, which some backends tie to the pipes closing too: a
    # grandchild holding a pipe open would make an exited server look alive.
    deadline = anyio.current_time() + timeout_s
    while process.returncode is None:
        if anyio.current_time() >= deadline:
            return False
        await anyio.sleep(_POLL_S)
    return True


async def _close_process(process: anyio.abc.Process) -> None:
    """Release the pipes (and the backend's subprocess transport) once the process is gone."""
    if process.returncode is not None:
        with anyio.move_on_after(_REAP_S):
            await process.aclose()
        return
    # Only a process that survived SIGKILL (uninterruptible sleep) gets here: close what we hold, move on.
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            with suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                await stream.aclose()


# --- results -----------------------------------------------------------------------------------------------


def _tool_result(result: mcp_types.CallToolResult, max_chars: int) -> dict[str, Any]:
    budget = max_chars
    truncated = False
    content: list[dict[str, Any]] = []
    for block in result.content:
        part = _content_part(block)
        text = part.get("text")
        if isinstance(text, str):
            if len(text) > budget:
                kept, marker = text[:budget], f"[truncated: {len(text) - budget} more characters]"
                part["text"] = f"{kept}\n{marker}" if kept else marker
                truncated = True
            budget = max(0, budget - len(text))
        content.append(part)
    structured = result.structured_content
    if structured is not None and len(json.dumps(structured, ensure_ascii=False)) > max_chars:
        structured = None  # the text content usually says the same; the model gets that, capped
        truncated = True
    return {"content": content, "structured": structured, "is_error": result.is_error, "truncated": truncated}


def _content_part(block: mcp_types.ContentBlock) -> dict[str, Any]:
    match block:
        case mcp_types.TextContent():
            return {"type": "text", "text": block.text}
        case mcp_types.ImageContent() | mcp_types.AudioContent():
            return {"type": block.type, "mime_type": block.mime_type, "bytes": _decoded_size(block.data)}
        case mcp_types.EmbeddedResource():
            resource = block.resource
            part: dict[str, Any] = {
                "type": "resource",
                "uri": str(resource.uri),
                "mime_type": resource.mime_type,
            }
            if isinstance(resource, mcp_types.TextResourceContents):
                part["text"] = resource.text
            else:
                part["bytes"] = _decoded_size(resource.blob)
            return part
        case mcp_types.ResourceLink():
            return {
                "type": "resource_link",
                "uri": str(block.uri),
                "name": block.name,
                "mime_type": block.mime_type,
                "description": block.description,
            }
    return {"type": str(getattr(block, "type", "unknown"))}  # a content type newer than this code


def _decoded_size(data: str) -> int:
    """Bytes a base64 string decodes to, without decoding it."""
    length = len(data.rstrip("=\n\r "))
    return length * 3 // 4


# --- errors ------------------------------------------------------------------------------------------------


def _display_url(url: str) -> str:
    """The URL without credentials, query or fragment (which can carry tokens): safe in messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _describe(server: McpServerSpec) -> str:
    if isinstance(server, StdioServer):
        return f"MCP server {server.command!r}"
    return f"MCP server at {_display_url(server.url)}"


def _details(diagnostics: _Diagnostics) -> dict[str, Any] | None:
    details: dict[str, Any] = {}
    if diagnostics.exit_code is not None:
        details["exit_code"] = diagnostics.exit_code
    if diagnostics.http_status is not None:
        details["http_status"] = diagnostics.http_status
    if diagnostics.stdout_problem:
        details["stdout_problem"] = diagnostics.stdout_problem
    if diagnostics.stderr_tail:
        # The server's own output, for whoever configured it; it never contains our headers or environment.
        details["stderr_tail"] = diagnostics.stderr_tail.decode(errors="replace")
    return details or None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _leaf(exc: BaseException) -> BaseException:
    """The most telling exception inside task-group wrappers: an MCP error or our own first."""
    leaves = _leaves(exc)
    for wanted in (AgenticError, MCPError, httpx2.HTTPError, OSError):
        for leaf in leaves:
            if isinstance(leaf, wanted):
                return leaf
    return leaves[0]


def _translate(  # noqa: PLR0911  # one decision table, read top to bottom
    exc: BaseException, server: McpServerSpec, diagnostics: _Diagnostics
) -> AgenticError:
    what = _describe(server)
    details = _details(diagnostics)
    if isinstance(exc, AgenticError):
        return exc
    status = diagnostics.http_status
    if status is not None and isinstance(exc, MCPError):
        code = "mcp_unavailable" if status in (502, 503, 504) else "mcp_error"
        hint = " (check the credentials in its headers)" if status in (401, 403) else ""
        return AgenticError(f"{what} answered HTTP {status}{hint}.", code=code, details=details)
    if isinstance(exc, MCPError):
        if exc.code == mcp_types.CONNECTION_CLOSED:
            why = f" ({diagnostics.stdout_problem})" if diagnostics.stdout_problem else ""
            if diagnostics.exit_code is not None:
                why = f"{why} (exit code {diagnostics.exit_code})"
            return AgenticError(
                f"{what} closed the connection{why}.", code="mcp_unavailable", details=details
            )
        if exc.code == mcp_types.REQUEST_TIMEOUT:
            return AgenticError(f"{what} timed out the request.", code="mcp_timeout", details=details)
        message = exc.message[:_ERROR_MESSAGE_CHARS]
        return AgenticError(
            f"{what} returned an error: {message}",
            code="mcp_error",
            details={**(details or {}), "mcp_code": exc.code},
        )
    if isinstance(exc, httpx2.TimeoutException):
        return AgenticError(f"{what} did not answer in time.", code="mcp_timeout", details=details)
    if isinstance(exc, (httpx2.TransportError, OSError)):
        # Exception text from the HTTP stack can quote the request; the type name is enough to act on.
        return AgenticError(
            f"Cannot reach {what} ({type(exc).__name__}).", code="mcp_unavailable", details=details
        )
    if isinstance(exc, ValidationError):
        return AgenticError(f"{what} sent a malformed response.", code="mcp_error", details=details)
    return AgenticError(
        f"Talking to {what} failed ({type(exc).__name__}).", code="mcp_error", details=details
    )
