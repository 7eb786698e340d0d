"""The organisation's SQL connections (`sql_query`) and MCP servers: listed to authors, managed by admins."""

from __future__ import annotations

import shutil
import uuid
from typing import Annotated

from fastapi import APIRouter, status

from agentic.api.deps import ResourcesDep, SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import Principal, require
from agentic.db.models import McpServer, SqlConnection
from agentic.resources import Resources
from agentic.schemas.common import error_responses
from agentic.schemas.connections import (
    McpConnection,
    McpServerCreate,
    McpServerOut,
    McpServerUpdate,
    McpToolOut,
    SqlConnectionCreate,
    SqlConnectionOut,
    SqlConnectionUpdate,
    ToolOut,
)
from agentic.security.permissions import Permission
from agentic.services import connections as service
from agentic.tools import registry, sandbox

router = APIRouter(prefix=API_PREFIX, tags=["tools"])

Reader = Annotated[Principal, require(Permission.AGENTS_READ)]
Manager = Annotated[Principal, require(Permission.TOOLS_MANAGE)]


def _sql_out(connection: SqlConnection) -> SqlConnectionOut:
    return SqlConnectionOut(
        id=connection.id,
        name=connection.name,
        description=connection.description,
        kind=connection.kind,  # constrained by the table's CHECK
        dsn=connection.dsn_redacted,
        created_by_id=connection.created_by_id,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def _mcp_out(server: McpServer) -> McpServerOut:
    return McpServerOut(
        id=server.id,
        name=server.name,
        description=server.description,
        transport=server.transport,  # constrained by the table's CHECK
        command=server.command,
        url=server.url,
        header_names=list(server.header_names or []),
        env_names=list(server.env_names or []),
        enabled=server.enabled,
        tools=[McpToolOut.model_validate(t) for t in server.tools or []],
        discovered_at=server.discovered_at,
        last_error=server.last_error,
        created_by_id=server.created_by_id,
        created_at=server.created_at,
        updated_at=server.updated_at,
    )


def _config(body: McpConnection) -> service.McpConfig:
    return service.McpConfig(
        transport=body.transport, command=body.command, url=body.url, headers=body.headers, env=body.env
    )


def _availability(name: str, resources: Resources) -> str | None:
    if name == "python":
        status = sandbox.last_status()  # probed when this process's workers started
        if status is not None and not status.available:
            return status.reason
        if status is None and shutil.which("bwrap") is None:
            return "bubblewrap (`bwrap`) is not installed on this server: the sandbox cannot run."
    if name == "web_search" and resources.settings.search.provider is None:
        return "No web search provider is configured (AGENTIC_SEARCH_PROVIDER)."
    return None


@router.get("/tools", summary="The built-in tools, their arguments and configuration")
async def list_tools(_principal: Reader, resources: ResourcesDep) -> list[ToolOut]:
    """For agent editors, with whether this server can run each one now.

    MCP servers' tools are listed with the servers (`GET /v1/mcp-servers`); an agent names a server as the
    tool `mcp:<server>`.
    """
    tools = []
    for tool in registry.BUILTIN_TOOLS.values():
        reason = _availability(tool.name, resources)
        tools.append(
            ToolOut(
                name=tool.name,
                description=tool.description,
                parameters=tool.parameters,
                config_schema=registry.config_schema(tool.name),
                available=reason is None,
                unavailable_reason=reason,
            )
        )
    return tools


@router.get("/sql-connections", summary="The organisation's SQL connections")
async def list_sql_connections(_principal: Reader, session: SessionDep) -> list[SqlConnectionOut]:
    """By name; passwords masked. Agent authors pick from these for `sql_query`."""
    return [_sql_out(c) for c in await service.list_sql_connections(session)]


@router.post(
    "/sql-connections",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 409, 422),
    summary="Register a database agents may query read-only",
)
async def create_sql_connection(
    body: SqlConnectionCreate, principal: Manager, session: SessionDep, resources: ResourcesDep
) -> SqlConnectionOut:
    """The DSN is checked (scheme, host policy, SQLite directory) and stored encrypted."""
    connection = await service.create_sql_connection(
        session,
        settings=resources.settings,
        box=resources.secret_box,
        actor=principal.actor(),
        name=body.name,
        dsn=body.dsn,
        description=body.description,
    )
    return _sql_out(connection)


@router.get("/sql-connections/{connection_id}", responses=error_responses(404), summary="A SQL connection")
async def get_sql_connection(
    connection_id: uuid.UUID, _principal: Reader, session: SessionDep
) -> SqlConnectionOut:
    """Password masked."""
    return _sql_out(await service.get_sql_connection(session, connection_id=connection_id))


@router.patch(
    "/sql-connections/{connection_id}",
    responses=error_responses(403, 404, 422),
    summary="Change a SQL connection",
)
async def update_sql_connection(
    connection_id: uuid.UUID,
    body: SqlConnectionUpdate,
    principal: Manager,
    session: SessionDep,
    resources: ResourcesDep,
) -> SqlConnectionOut:
    """A new DSN replaces the old one."""
    connection = await service.get_sql_connection(session, connection_id=connection_id)
    updated = await service.update_sql_connection(
        session,
        settings=resources.settings,
        box=resources.secret_box,
        actor=principal.actor(),
        connection=connection,
        dsn=body.dsn,
        description=body.description,
    )
    return _sql_out(updated)


@router.delete(
    "/sql-connections/{connection_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
    summary="Delete a SQL connection",
)
async def delete_sql_connection(connection_id: uuid.UUID, principal: Manager, session: SessionDep) -> None:
    """Agents naming it get an error from `sql_query` from then on."""
    connection = await service.get_sql_connection(session, connection_id=connection_id)
    await service.delete_sql_connection(session, actor=principal.actor(), connection=connection)


@router.get("/mcp-servers", summary="The organisation's MCP servers and their tools")
async def list_mcp_servers(_principal: Reader, session: SessionDep) -> list[McpServerOut]:
    """By name; secret values are never shown (only header and environment variable names)."""
    return [_mcp_out(s) for s in await service.list_mcp_servers(session)]


@router.post(
    "/mcp-servers",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 409, 422),
    summary="Register an MCP server and discover its tools",
)
async def create_mcp_server(
    body: McpServerCreate, principal: Manager, session: SessionDep, resources: ResourcesDep
) -> McpServerOut:
    """Checked, stored (secrets encrypted), then asked for its tools.

    stdio commands must be allowed by the operator; URLs pass the SSRF policy. A discovery failure is
    reported in `last_error` (fix the server, then `POST …/refresh`).
    """
    server = await service.create_mcp_server(
        session,
        settings=resources.settings,
        box=resources.secret_box,
        actor=principal.actor(),
        name=body.name,
        description=body.description,
        config=_config(body),
        enabled=body.enabled,
    )
    return _mcp_out(server)


@router.get("/mcp-servers/{server_id}", responses=error_responses(404), summary="An MCP server")
async def get_mcp_server(server_id: uuid.UUID, _principal: Reader, session: SessionDep) -> McpServerOut:
    """With the tools it offered when last asked."""
    return _mcp_out(await service.get_mcp_server(session, server_id=server_id))


@router.patch(
    "/mcp-servers/{server_id}", responses=error_responses(403, 404, 422), summary="Change an MCP server"
)
async def update_mcp_server(
    server_id: uuid.UUID,
    body: McpServerUpdate,
    principal: Manager,
    session: SessionDep,
    resources: ResourcesDep,
) -> McpServerOut:
    """A new `connection` replaces the old one whole (secrets included) and is rediscovered."""
    server = await service.get_mcp_server(session, server_id=server_id)
    updated = await service.update_mcp_server(
        session,
        settings=resources.settings,
        box=resources.secret_box,
        actor=principal.actor(),
        server=server,
        description=body.description,
        enabled=body.enabled,
        config=_config(body.connection) if body.connection is not None else None,
    )
    return _mcp_out(updated)


@router.post(
    "/mcp-servers/{server_id}/refresh",
    responses=error_responses(403, 404),
    summary="Ask the server for its tools again",
)
async def refresh_mcp_server(
    server_id: uuid.UUID, _principal: Manager, session: SessionDep, resources: ResourcesDep
) -> McpServerOut:
    """Agents see the refreshed tool list from their next run."""
    server = await service.get_mcp_server(session, server_id=server_id)
    refreshed = await service.discover(
        session, settings=resources.settings, box=resources.secret_box, server=server
    )
    return _mcp_out(refreshed)


@router.delete(
    "/mcp-servers/{server_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
    summary="Delete an MCP server",
)
async def delete_mcp_server(server_id: uuid.UUID, principal: Manager, session: SessionDep) -> None:
    """Agents naming it no longer get its tools."""
    server = await service.get_mcp_server(session, server_id=server_id)
    await service.delete_mcp_server(session, actor=principal.actor(), server=server)
