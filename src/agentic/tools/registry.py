"""The built-in tools an agent can call: their JSON-Schema inputs, and running one call safely.

Every call's arguments are validated against the tool's schema, every call has a timeout, and every result is
capped before it reaches the model. A failing call is a result the model sees (`{"error": …}`), not a crash of
the task: the model can correct itself. Untrusted code runs only in the bubblewrap sandbox, and every outbound
URL goes through the SSRF guard.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

from agentic.config import SearchSettings, SqlToolSettings, ToolSettings
from agentic.errors import AgenticError
from agentic.llm import ToolDefinition
from agentic.security.outbound import check_host
from agentic.tools import mcp
from agentic.tools.http import OutboundPolicy, http_request, web_fetch
from agentic.tools.sandbox import SandboxLimits, run_python
from agentic.tools.search import provider_from_settings, web_search
from agentic.tools.sql import SqlLimits, run_query

# How an MCP server's tool is named to the model: provider APIs allow `^[A-Za-z0-9_-]{1,64}$` only.
MCP_PREFIX = "mcp__"
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class McpServerTools:
    """A registered MCP server as one run sees it: how to reach it and the tools it offered."""

    spec: mcp.McpServerSpec
    tools: tuple[mcp.McpTool, ...]
    policy: OutboundPolicy | None = None


@dataclass(frozen=True, slots=True)
class OrgTools:
    """What the organisation registered that this run may use (loaded when the run starts)."""

    sql: Mapping[str, str] = field(default_factory=dict)  # connection name -> DSN (decrypted)
    mcp: Mapping[str, McpServerTools] = field(default_factory=dict)  # server name -> its tools
    search: SearchSettings = field(default_factory=SearchSettings)
    sql_settings: SqlToolSettings = field(default_factory=SqlToolSettings)
    mcp_timeout_s: float = 60.0
    sql_networks: frozenset[str] = frozenset()  # internal networks a database may be on (see services)


class FileStore(Protocol):
    """A task's stored files, as a tool call sees them."""

    async def inputs(self) -> dict[str, bytes]:
        """The files given with the task, by name."""
        ...

    async def save(self, files: dict[str, bytes]) -> None:
        """Keep files the call produced as the task's outputs."""
        ...


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a tool call may use: the task's workspace, the server's tool settings, the tool's agent config."""

    task_id: str
    workspace: Path
    settings: ToolSettings
    config: dict[str, Any]
    org: OrgTools = field(default_factory=OrgTools)
    files: FileStore | None = None

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
    # When the input schema depends on the agent's config for the tool (e.g. which connections).
    parameters_for: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def schema(self, config: dict[str, Any]) -> dict[str, Any]:
        """The input schema offered for this agent's config."""
        return self.parameters_for(config) if self.parameters_for is not None else self.parameters


async def _python(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    limits = SandboxLimits(
        wall_seconds=ctx.settings.python_wall_s,
        cpu_seconds=ctx.settings.python_cpu_s,
        memory_bytes=ctx.settings.python_memory_mib * 1024 * 1024,
    )
    files_in = await ctx.files.inputs() if ctx.files is not None else {}
    result = await run_python(str(args["code"]), workspace=ctx.workspace, limits=limits, files_in=files_in)
    if ctx.files is not None:
        await ctx.files.save(dict(result.files))  # downloadable as the task's output files
    return {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "files": [{"name": name, "size": len(data)} for name, data in sorted(result.files.items())],
        "files_truncated": result.files_truncated,
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


async def _web_search(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    settings = ctx.org.search
    asked = int(args.get("max_results") or ctx.config.get("max_results") or 5)
    results = await web_search(
        provider_from_settings(settings),
        str(args["query"]),
        max_results=min(asked, settings.max_results),
        timeout_s=settings.timeout_s,
    )
    return {"results": [{"title": r.title, "url": r.url, "snippet": r.snippet} for r in results]}


def _connections(config: dict[str, Any]) -> list[str]:
    return [str(name) for name in config.get("connections") or []]


def _sql_parameters(config: dict[str, Any]) -> dict[str, Any]:
    names = _connections(config)
    properties: dict[str, Any] = {
        "sql": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100_000,
            "description": "One SELECT statement.",
        },
        "params": {
            "type": "array",
            "maxItems": 100,
            "description": "Positional parameters ($1, $2… on PostgreSQL; ? on SQLite).",
        },
    }
    required = ["sql"]
    if len(names) > 1:
        properties["connection"] = {"enum": names, "description": "Which database."}
        required.append("connection")
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


async def _sql_query(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    allowed = _connections(ctx.config)
    name = str(args.get("connection") or (allowed[0] if len(allowed) == 1 else ""))
    if name not in allowed:
        raise AgenticError(f"This agent may not query {name!r}.", code="sql_connection_not_allowed")
    dsn = ctx.org.sql.get(name)
    if dsn is None:
        raise AgenticError(f"The organisation has no SQL connection named {name!r}.", code="sql_unknown")
    sql = ctx.org.sql_settings
    if dsn.startswith("sqlite:") and not sql.sqlite_dirs:
        # Registered while allowed; the operator has since disabled SQLite connections.
        raise AgenticError("SQLite connections are disabled on this server.", code="sql_unavailable")
    if dsn.startswith(("postgresql:", "postgres:")):
        # Addresses change: the host is checked again now, not only when the connection was registered.
        host = urlsplit(dsn).hostname or ""
        await check_host(host, allow_networks=ctx.org.sql_networks, port=5432, code="sql_host_refused")
    result = await run_query(
        dsn,
        str(args["sql"]),
        params=list(args.get("params") or []),
        limits=SqlLimits(
            statement_timeout_s=sql.statement_timeout_s, max_rows=sql.max_rows, max_bytes=sql.max_bytes
        ),
        sqlite_dirs=[str(d) for d in sql.sqlite_dirs] or None,
    )
    return {
        "columns": result.columns,
        "rows": result.rows,
        "row_count": result.row_count,
        "truncated": result.truncated,
        "truncated_reason": result.truncated_reason,
    }


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
        BuiltinTool(
            name="web_search",
            description="Search the web; get titles, URLs and snippets of the top results.",
            parameters={
                "type": "object",
                "properties": {
                    "query": {"type": "string", "minLength": 1, "maxLength": 400},
                    "max_results": {"type": "integer", "minimum": 1, "maximum": 20},
                },
                "required": ["query"],
                "additionalProperties": False,
            },
            run=_web_search,
        ),
        BuiltinTool(
            name="sql_query",
            description="Run one read-only SQL query on the organisation's database and get the rows.",
            parameters=_sql_parameters({}),
            parameters_for=_sql_parameters,
            run=_sql_query,
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Offered:
    """One function offered to the model, and what runs when the model calls it."""

    definition: ToolDefinition
    spec: dict[str, Any]  # the agent's tool entry it comes from (config, approvals, role)
    builtin: BuiltinTool | None = None
    mcp_server: str | None = None
    mcp_tool: str | None = None


_DOMAINS_CONFIG: dict[str, Any] = {
    "type": "object",
    "properties": {
        "allowed_domains": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Only these hosts (`example.com`, or `*.example.com` for subdomains).",
        }
    },
    "additionalProperties": False,
}
_CONFIG_SCHEMAS: dict[str, dict[str, Any]] = {
    "http_request": _DOMAINS_CONFIG,
    "web_fetch": _DOMAINS_CONFIG,
    "web_search": {
        "type": "object",
        "properties": {"max_results": {"type": "integer", "minimum": 1, "maximum": 20}},
        "additionalProperties": False,
    },
    "sql_query": {
        "type": "object",
        "properties": {
            "connections": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "description": "Names of the organisation's SQL connections the agent may query.",
            }
        },
        "required": ["connections"],
        "additionalProperties": False,
    },
}


def config_schema(name: str) -> dict[str, Any]:
    """What an agent may put in a built-in tool's `config`."""
    return _CONFIG_SCHEMAS.get(name, {"type": "object", "properties": {}, "additionalProperties": False})


def mcp_function_name(server: str, tool: str) -> str | None:
    """The name the model sees for an MCP tool, or None when the tool's name cannot be expressed."""
    name = f"{MCP_PREFIX}{server}__{tool}"
    return name if _FUNCTION_NAME.fullmatch(name) else None


def offer(tool_specs: list[dict[str, Any]], org: OrgTools | None = None) -> dict[str, Offered]:
    """The functions offered to the model, by the name it calls them, in the agent's order.

    A built-in tool is offered under its own name; an `mcp:<server>` entry offers each tool the server
    listed (or those named in its `config.tools`) as `mcp__<server>__<tool>`. Entries the platform or the
    organisation does not know are left out.
    """
    known = org or OrgTools()
    offered: dict[str, Offered] = {}
    for spec in tool_specs:
        name = str(spec.get("name"))
        config = dict(spec.get("config") or {})
        if name.startswith("mcp:"):
            server_name = name.removeprefix("mcp:")
            server = known.mcp.get(server_name)
            wanted = set(config.get("tools") or [])
            for tool in server.tools if server is not None else ():
                function = mcp_function_name(server_name, tool.name)
                if function is None or (wanted and tool.name not in wanted):
                    continue
                offered[function] = Offered(
                    definition=ToolDefinition(
                        name=function,
                        description=tool.description[:1024],
                        parameters=tool.input_schema or {"type": "object"},
                    ),
                    spec=spec,
                    mcp_server=server_name,
                    mcp_tool=tool.name,
                )
        elif (builtin := BUILTIN_TOOLS.get(name)) is not None:
            offered[name] = Offered(
                definition=ToolDefinition(
                    name=builtin.name, description=builtin.description, parameters=builtin.schema(config)
                ),
                spec=spec,
                builtin=builtin,
            )
    return offered


def definitions(tool_specs: list[dict[str, Any]], org: OrgTools | None = None) -> tuple[ToolDefinition, ...]:
    """The definitions offered to the model (see `offer`)."""
    return tuple(o.definition for o in offer(tool_specs, org).values())


def _capped(result: dict[str, Any], max_chars: int) -> str:
    text = json.dumps(result, ensure_ascii=False, default=str)
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"… [truncated: {len(text) - max_chars} more characters]"


def _invalid_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any] | None:
    try:
        problems = sorted(Draft202012Validator(schema).iter_errors(arguments), key=str)
    except Exception:  # a server's broken schema: let the server judge the arguments
        return None
    if not problems:
        return None
    where = "/".join(str(p) for p in problems[0].absolute_path) or "(arguments)"
    return {"error": {"code": "invalid_arguments", "message": f"{where}: {problems[0].message}"}}


async def _run_mcp(offered: Offered, arguments: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    server = ctx.org.mcp.get(str(offered.mcp_server))
    if server is None:
        raise AgenticError(f"The MCP server {offered.mcp_server!r} is gone.", code="mcp_unavailable")
    result = await mcp.call_tool(
        server.spec,
        str(offered.mcp_tool),
        arguments,
        timeout_s=ctx.org.mcp_timeout_s,
        max_chars=ctx.settings.max_output_chars,
        policy=server.policy,
    )
    # `content` is the name of what the model is shown (see `execute`): the server's parts are `parts` here.
    return {
        "parts": result["content"],
        "structured": result["structured"],
        "is_error": result["is_error"],
        "truncated": result.get("truncated", False),
    }


async def execute(
    name: str, arguments: dict[str, Any], ctx: ToolContext, offered: Offered | None = None
) -> dict[str, Any]:
    """Run one tool call; the result (or the error) as a dict, plus `content`: what the model is shown.

    Never raises for a bad call: unknown tools, invalid arguments, refusals, timeouts and tool failures are
    reported in the result so that the model can react to them.
    """
    if offered is None:
        builtin = BUILTIN_TOOLS.get(name)
        offered = (
            Offered(ToolDefinition(name, builtin.description, builtin.parameters), {}, builtin)
            if builtin is not None
            else None
        )
    if offered is None:
        result: dict[str, Any] = {"error": {"code": "unknown_tool", "message": f"no tool named {name!r}"}}
    elif (invalid := _invalid_arguments(offered.definition.parameters, arguments)) is not None:
        result = invalid
    else:
        timeout_s = offered.builtin.timeout_s if offered.builtin is not None else ctx.org.mcp_timeout_s + 5
        try:
            async with asyncio.timeout(timeout_s):
                if offered.builtin is not None:
                    result = await offered.builtin.run(ctx, arguments)
                else:
                    result = await _run_mcp(offered, arguments, ctx)
        except TimeoutError:
            result = {"error": {"code": "tool_timeout", "message": f"{name} took over {timeout_s:g}s"}}
        except AgenticError as exc:
            result = {"error": {"code": exc.code, "message": exc.message}}
    return {**result, "content": _capped(result, ctx.settings.max_output_chars)}
