"""The built-in tools an agent can call: their JSON-Schema inputs, and running one call safely.

Every call's arguments are validated against the tool's schema, every call has a timeout, and every result is
capped before it reaches the model. A failing call is a result the model sees (`{"error": …}`), not a crash of
the task: the model can correct itself. Untrusted code runs only in the bubblewrap sandbox, and every outbound
URL goes through the SSRF guard.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from agentic.config import ToolSettings
from agentic.errors import AgenticError
from agentic.llm import ToolDefinition
from agentic.tools.http import OutboundPolicy, http_request, web_fetch
from agentic.tools.sandbox import SandboxLimits, run_python


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a tool call may use: the task's workspace, the server's tool settings, the tool's agent config."""

    task_id: str
    workspace: Path
    settings: ToolSettings
    config: dict[str, Any]

    def outbound(self) -> OutboundPolicy:
        """The SSRF policy of this call: server limits, narrowed by the agent's domain allowlist."""
        domains = self.config.get("allowed_domains")
        return OutboundPolicy(
            allowed_ports=frozenset(self.settings.http_allowed_ports),
            total_timeout=self.settings.http_timeout_s,
            max_response_bytes=self.settings.http_max_response_bytes,
            allowed_domains=tuple(domains) if domains else None,
            allow_private_networks=frozenset(self.settings.allow_private_networks),
        )


ToolFn = Callable[[ToolContext, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    """A tool the platform ships."""

    name: str
    description: str
    parameters: dict[str, Any]
    run: ToolFn
    # Headroom over the tool's own limits (the sandbox's wall clock, the HTTP total timeout).
    timeout_s: float = 60.0


async def _python(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    limits = SandboxLimits(
        wall_seconds=ctx.settings.python_wall_s,
        cpu_seconds=ctx.settings.python_cpu_s,
        memory_bytes=ctx.settings.python_memory_mib * 1024 * 1024,
    )
    result = await run_python(str(args["code"]), workspace=ctx.workspace, limits=limits)
    return {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "files": sorted(result.files),
    }


async def _http_request(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    result = await http_request(
        ctx.outbound(),
        str(args.get("method", "GET")),
        str(args["url"]),
        headers=args.get("headers") or None,
        body=args.get("body"),
    )
    return {"status": result.status, "url": result.url, "body": result.text, "truncated": result.truncated}


async def _web_fetch(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    result = await web_fetch(ctx.outbound(), str(args["url"]))
    return {"status": result.status, "url": result.url, "text": result.text, "truncated": result.truncated}


BUILTIN_TOOLS: dict[str, BuiltinTool] = {
    tool.name: tool
    for tool in (
        BuiltinTool(
            name="python",
            description="Run Python 3 code (standard library only) in an isolated sandbox with no network. "
            "Print what you want to see; files written to /workspace/out are kept.",
            parameters={
                "type": "object",
                "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 100_000}},
                "required": ["code"],
                "additionalProperties": False,
            },
            run=_python,
        ),
        BuiltinTool(
            name="http_request",
            description="Make an HTTP request to a public URL and get the status and response body.",
            parameters={
                "type": "object",
                "properties": {
                    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
                    "url": {"type": "string", "maxLength": 4096},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "body": {"type": "string", "maxLength": 1_000_000},
                },
                "required": ["url"],
                "additionalProperties": False,
            },
            run=_http_request,
        ),
        BuiltinTool(
            name="web_fetch",
            description="Fetch a public web page and get it as readable text.",
            parameters={
                "type": "object",
                "properties": {"url": {"type": "string", "maxLength": 4096}},
                "required": ["url"],
                "additionalProperties": False,
            },
            run=_web_fetch,
        ),
    )
}


def definitions(tool_specs: list[dict[str, Any]]) -> tuple[ToolDefinition, ...]:
    """The definitions offered to the model: the agent's tools the platform knows, in the agent's order."""
    return tuple(
        ToolDefinition(name=tool.name, description=tool.description, parameters=tool.parameters)
        for spec in tool_specs
        if (tool := BUILTIN_TOOLS.get(str(spec.get("name")))) is not None
    )


def _capped(result: dict[str, Any], max_chars: int) -> str:
    text = json.dumps(result, ensure_ascii=False, default=str)
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"… [truncated: {len(text) - max_chars} more characters]"


async def execute(name: str, arguments: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Run one tool call; the result (or the error) as a dict, plus `content`: what the model is shown.

    Never raises for a bad call: unknown tools, invalid arguments, refusals, timeouts and tool failures are
    reported in the result so that the model can react to them.
    """
    tool = BUILTIN_TOOLS.get(name)
    if tool is None:
        result: dict[str, Any] = {"error": {"code": "unknown_tool", "message": f"no tool named {name!r}"}}
    else:
        problems = sorted(Draft202012Validator(tool.parameters).iter_errors(arguments), key=str)
        if problems:
            where = "/".join(str(p) for p in problems[0].absolute_path) or "(arguments)"
            result = {"error": {"code": "invalid_arguments", "message": f"{where}: {problems[0].message}"}}
        else:
            try:
                async with asyncio.timeout(tool.timeout_s):
                    result = await tool.run(ctx, arguments)
            except TimeoutError:
                result = {
                    "error": {"code": "tool_timeout", "message": f"{name} took over {tool.timeout_s:g}s"}
                }
            except AgenticError as exc:
                result = {"error": {"code": exc.code, "message": exc.message}}
    return {**result, "content": _capped(result, ctx.settings.max_output_chars)}
