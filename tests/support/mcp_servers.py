"""A small MCP server (the SDK's own `MCPServer`) for the MCP client tests, over stdio or streamable HTTP.

Tools:
    `add(a, b)`            The sum.
    `authorization()`      The `Authorization` header this request carried ("" without one, e.g. on stdio).
    `environment()`        The server process's whole environment.
    `pid()`                The server's process id (to check it is gone after the call).
    `media()`              One block of every content type: text, image, audio, embedded text and blob
                           resources, a resource link.
    `fail(message)`        A tool-level failure (`isError`), never a protocol error.
    `long_text(n)`         `n` characters, in two text blocks.
    `sleep(seconds)`       Answers after `seconds`.

Run it with `python tests/support/mcp_servers.py stdio`, or `... http --port N [--token T]`: over HTTP, with
`--token`, every request must carry `Authorization: Bearer T` (401 otherwise). It is run by path, not as
`-m tests.support...`, because the stdio tests give it an environment without `PYTHONPATH` or a cwd of ours.
In tests, `run_http_server()` starts the HTTP flavour as a subprocess on a free port.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

SCRIPT = Path(__file__).resolve()
PNG_BYTES = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def build_server() -> MCPServer:
    """The test server with its tools."""
    server = MCPServer("agentic-test-server", version="1.0", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def authorization(ctx: Context) -> str:
        """The Authorization header of this request."""
        headers = ctx.headers or {}
        return str(headers.get("authorization", ""))

    @server.tool()
    def environment() -> dict[str, str]:
        """This process's environment."""
        return dict(os.environ)

    @server.tool()
    def pid() -> int:
        """This process's id."""
        return os.getpid()

    @server.tool()
    def media() -> types.CallToolResult:
        """One content block of each kind."""
        blob = base64.b64encode(b"\x00" * 1000).decode()
        return types.CallToolResult(
            content=[
                types.TextContent(text="here you go"),
                types.ImageContent(data=base64.b64encode(PNG_BYTES).decode(), mime_type="image/png"),
                types.AudioContent(
                    data=base64.b64encode(b"RIFF" + b"\x00" * 40).decode(), mime_type="audio/wav"
                ),
                types.EmbeddedResource(
                    resource=types.TextResourceContents(
                        uri="file:///notes.txt", mime_type="text/plain", text="notes"
                    )
                ),
                types.EmbeddedResource(
                    resource=types.BlobResourceContents(
                        uri="file:///zeros.bin", mime_type="application/octet-stream", blob=blob
                    )
                ),
                types.ResourceLink(uri="file:///big.csv", name="big.csv", mime_type="text/csv"),
            ]
        )

    @server.tool()
    def fail(message: str) -> str:
        """Always fails, as a tool."""
        raise ToolError(message)

    @server.tool()
    def long_text(n: int) -> types.CallToolResult:
        """`n` characters of text in two blocks (the second always 10 characters)."""
        first = max(0, n - 10)
        return types.CallToolResult(
            content=[types.TextContent(text="a" * first), types.TextContent(text="b" * (n - first))]
        )

    @server.tool()
    async def sleep(seconds: float) -> str:
        """Answer after `seconds`."""
        await anyio.sleep(seconds)
        return "awake"

    return server


def _http_app(server: MCPServer, token: str | None) -> Any:
    """The streamable-HTTP app, behind a bearer-token check when `token` is set."""
    app = server.streamable_http_app()
    if token is None:
        return app
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transport", choices=["stdio", "http"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None)
    options = parser.parse_args()
    server = build_server()
    if options.transport == "stdio":
        server.run("stdio")
        return
    import uvicorn

    uvicorn.run(
        _http_app(server, options.token),
        host="127.0.0.1",
        port=options.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


@dataclass(frozen=True)
class HttpMcpServer:
    """A running HTTP flavour of the test server."""

    url: str
    port: int
    token: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def run_http_server(
    token: str = "s3cret-token",  # noqa: S107  # a test server's token
    startup_timeout: float = 20.0,
) -> Iterator[HttpMcpServer]:
    """Run the HTTP flavour as a subprocess on a free port for the duration of the block.

    Raises:
        RuntimeError: It exited or did not listen in time (its output is in the message).
    """
    port = _free_port()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, str(SCRIPT), "http", "--port", str(port), "--token", token],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    output.seek(0)
                    text = output.read().decode(errors="replace")
                    raise RuntimeError(f"test MCP server on port {port} did not start; its output:\n{text}")
                time.sleep(0.05)
            yield HttpMcpServer(url=f"http://127.0.0.1:{port}/mcp", port=port, token=token)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


if __name__ == "__main__":
    main()
