"""What an organisation connects its agents to: SQL connections (`sql_query`) and MCP servers.

Both hold secrets (a DSN's password; MCP headers and environment values), stored encrypted and never returned.
Where they may point is checked when they are registered and again when they are used: a PostgreSQL host or
an MCP URL must be public (or in the operator's allowed networks; loopback only outside production), and a
stdio MCP server may run only a command the operator allowed, because it runs on the worker's host.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.config import Environment, Settings
from agentic.db.models import McpServer, SqlConnection
from agentic.db.types import utcnow
from agentic.errors import AgenticError, Conflict, InvalidInput, NotFound
from agentic.ids import new_id
from agentic.security.encryption import DecryptionError, SecretBox
from agentic.security.outbound import LOOPBACK_NETWORKS, check_host, registered_url_policy
from agentic.services.audit import Actor
from agentic.tools import mcp
from agentic.tools.http import OutboundPolicy, OutboundRefused, check_url
from agentic.tools.sql import parse_dsn, redact_dsn

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _invalid(message: str, field: str, code: str = "invalid_input") -> InvalidInput:
    return InvalidInput(message, code=code, details=[{"loc": ["body", field], "message": message}])


def _check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise _invalid(
            "Names are 1-32 lower-case letters, digits, '-' or '_', starting with a letter or digit.", "name"
        )
    return name


# --- where a database may be ---------------------------------------------------------------------------


def database_networks(settings: Settings) -> frozenset[str]:
    """Internal networks a PostgreSQL connection may reach: the operator's; loopback outside production."""
    networks = set(settings.sql.allow_private_networks)
    if settings.env is not Environment.PRODUCTION:
        networks |= set(LOOPBACK_NETWORKS)
    return frozenset(networks)


async def check_database_host(settings: Settings, host: str) -> None:
    """Refuse a PostgreSQL host that is (or resolves to) an internal address the operator did not allow."""
    await check_host(host, allow_networks=database_networks(settings), port=5432, code="sql_host_refused")


# --- SQL connections -----------------------------------------------------------------------------------


def sql_owner(connection_id: uuid.UUID) -> str:
    """Associated data binding an encrypted DSN to its row."""
    return f"sql:{connection_id}"


async def _checked_dsn(settings: Settings, dsn: str) -> tuple[str, str]:
    """(kind, host or path) of an acceptable DSN."""
    dirs = [str(d) for d in settings.sql.sqlite_dirs]
    try:
        kind, target = parse_dsn(dsn, sqlite_dirs=dirs or None)
    except AgenticError as exc:
        raise _invalid(exc.message, "dsn", "invalid_dsn") from None
    if kind == "sqlite" and not dirs:
        raise _invalid(
            "SQLite connections are disabled on this server (the operator sets AGENTIC_SQL_SQLITE_DIRS).",
            "dsn",
            "invalid_dsn",
        )
    if kind == "postgresql":
        host = urlsplit(dsn).hostname or ""
        try:
            await check_database_host(settings, host)
        except AgenticError as exc:
            raise _invalid(exc.message, "dsn", exc.code) from None
    return kind, target


async def list_sql_connections(session: AsyncSession) -> list[SqlConnection]:
    """The organisation's SQL connections by name."""
    return list((await session.scalars(select(SqlConnection).order_by(SqlConnection.name))).all())


async def get_sql_connection(session: AsyncSession, *, connection_id: uuid.UUID) -> SqlConnection:
    """One of the organisation's SQL connections, or `NotFound`."""
    connection = await session.get(SqlConnection, connection_id)
    if connection is None:
        raise NotFound("SQL connection not found.")
    return connection


async def _name_free(session: AsyncSession, model: type[SqlConnection] | type[McpServer], name: str) -> None:
    if await session.scalar(select(model.id).where(model.name == name)) is not None:
        raise Conflict(f"The name {name!r} is taken.", code="name_taken")


async def create_sql_connection(
    session: AsyncSession,
    *,
    settings: Settings,
    box: SecretBox,
    actor: Actor,
    name: str,
    dsn: str,
    description: str,
) -> SqlConnection:
    """Register a database; its DSN is stored encrypted and shown only with the password masked."""
    assert actor.org_id is not None  # noqa: S101
    await _name_free(session, SqlConnection, _check_name(name))
    kind, _ = await _checked_dsn(settings, dsn)
    connection_id = new_id()
    connection = SqlConnection(
        id=connection_id,
        org_id=actor.org_id,
        created_by_id=actor.user_id,
        name=name,
        description=description,
        kind=kind,
        dsn_redacted=redact_dsn(dsn),
        dsn_encrypted=box.encrypt(dsn, owner=sql_owner(connection_id)),
    )
    session.add(connection)
    actor.audit(
        session,
        "sql_connection.created",
        target_type="sql_connection",
        target_id=str(connection_id),
        details={"name": name, "kind": kind, "dsn": connection.dsn_redacted},
    )
    await session.commit()
    return connection


async def update_sql_connection(
    session: AsyncSession,
    *,
    settings: Settings,
    box: SecretBox,
    actor: Actor,
    connection: SqlConnection,
    dsn: str | None,
    description: str | None,
) -> SqlConnection:
    """Replace the DSN and/or the description."""
    if dsn is not None:
        connection.kind, _ = await _checked_dsn(settings, dsn)
        connection.dsn_redacted = redact_dsn(dsn)
        connection.dsn_encrypted = box.encrypt(dsn, owner=sql_owner(connection.id))
    if description is not None:
        connection.description = description
    actor.audit(
        session,
        "sql_connection.updated",
        target_type="sql_connection",
        target_id=str(connection.id),
        details={"dsn_changed": dsn is not None},
    )
    await session.commit()
    await session.refresh(connection)
    return connection


async def delete_sql_connection(session: AsyncSession, *, actor: Actor, connection: SqlConnection) -> None:
    """Forget a database (agents naming it get a clear error from `sql_query`)."""
    await session.delete(connection)
    actor.audit(session, "sql_connection.deleted", target_type="sql_connection", target_id=str(connection.id))
    await session.commit()


# --- MCP servers ---------------------------------------------------------------------------------------


def mcp_owner(server_id: uuid.UUID) -> str:
    """Associated data binding an MCP server's encrypted secrets to its row."""
    return f"mcp:{server_id}"


def stdio_allowed(settings: Settings, command: list[str]) -> bool:
    """Whether the operator allows this stdio command now (checked at registration and at every run)."""
    allowed = settings.mcp.stdio_commands
    if not command:
        return False
    executable = command[0]
    # An allowed bare name is looked up on the server's minimal PATH; an allowed path must match exactly.
    return executable in allowed or (
        PurePath(executable).name == executable and PurePath(executable).name in allowed
    )


def _check_command(settings: Settings, command: list[str]) -> None:
    allowed = settings.mcp.stdio_commands
    if not allowed:
        raise _invalid(
            "stdio MCP servers are disabled on this server (the operator lists allowed commands in "
            "AGENTIC_MCP_STDIO_COMMANDS); register a streamable-HTTP server instead.",
            "command",
            "stdio_not_allowed",
        )
    if not stdio_allowed(settings, command):
        raise _invalid(
            f"The command {command[0]!r} is not among the stdio commands this server allows.",
            "command",
            "stdio_not_allowed",
        )


def http_policy(settings: Settings, url: str) -> OutboundPolicy:
    """The SSRF policy an MCP server's URL is used under."""
    return registered_url_policy(
        settings,
        url,
        allowed_ports=settings.mcp.allowed_ports,
        timeout_s=settings.mcp.call_timeout_s,
        user_agent="agentic-mcp/1",
    )


def _check_http_url(settings: Settings, url: str) -> str:
    try:
        return str(check_url(http_policy(settings, url), url))
    except OutboundRefused as exc:
        raise _invalid(exc.message, "url", "invalid_mcp_url") from None


@dataclass(frozen=True, slots=True)
class McpConfig:
    """An MCP server's connection settings as given at registration (secrets included)."""

    transport: str
    command: list[str] | None
    url: str | None
    headers: Mapping[str, str]
    env: Mapping[str, str]


def _validated(settings: Settings, config: McpConfig) -> McpConfig:
    if config.transport == "stdio":
        if not config.command:
            raise _invalid("A stdio server needs a command.", "command")
        _check_command(settings, config.command)
        if config.headers:
            raise _invalid("Headers apply to streamable-HTTP servers only.", "headers")
        return McpConfig("stdio", list(config.command), None, {}, dict(config.env))
    if not config.url:
        raise _invalid("An HTTP server needs a url.", "url")
    if config.env:
        raise _invalid("Environment variables apply to stdio servers only.", "env")
    return McpConfig("http", None, _check_http_url(settings, config.url), dict(config.headers), {})


def server_spec(server: McpServer, box: SecretBox) -> mcp.McpServerSpec:
    """The client-side spec of a registered server, secrets decrypted.

    Raises:
        AgenticError: `mcp_unavailable` when its secrets cannot be decrypted (the secret key changed).
    """
    secrets: dict[str, Any] = {}
    if server.secrets_encrypted:
        try:
            secrets = json.loads(box.decrypt(server.secrets_encrypted, owner=mcp_owner(server.id)))
        except DecryptionError:
            raise AgenticError(
                f"The MCP server {server.name}'s secrets cannot be decrypted.", code="mcp_unavailable"
            ) from None
    if server.transport == "stdio":
        command = list(server.command or [])
        return mcp.StdioServer(
            command=command[0], args=tuple(command[1:]), env=dict(secrets.get("env") or {})
        )
    return mcp.HttpServer(url=str(server.url), headers=dict(secrets.get("headers") or {}))


async def discover(
    session: AsyncSession, *, settings: Settings, box: SecretBox, server: McpServer
) -> McpServer:
    """Ask the server for its tools and remember them (or the error, if it could not be asked)."""
    if server.transport == "stdio" and not stdio_allowed(settings, list(server.command or [])):
        server.last_error = "The operator no longer allows this stdio command (AGENTIC_MCP_STDIO_COMMANDS)."
        await session.commit()
        await session.refresh(server)
        return server
    try:
        spec = server_spec(server, box)
        policy = http_policy(settings, str(server.url)) if server.transport == "http" else None
        tools = await mcp.list_tools(spec, timeout_s=settings.mcp.discovery_timeout_s, policy=policy)
    except AgenticError as exc:
        server.last_error = exc.message[:1000]
    else:
        server.tools = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools
        ]
        server.last_error = None
        server.discovered_at = utcnow()
    await session.commit()
    await session.refresh(server)
    return server


async def list_mcp_servers(session: AsyncSession) -> list[McpServer]:
    """The organisation's MCP servers by name."""
    return list((await session.scalars(select(McpServer).order_by(McpServer.name))).all())


async def get_mcp_server(session: AsyncSession, *, server_id: uuid.UUID) -> McpServer:
    """One of the organisation's MCP servers, or `NotFound`."""
    server = await session.get(McpServer, server_id)
    if server is None:
        raise NotFound("MCP server not found.")
    return server


def _seal(box: SecretBox, server_id: uuid.UUID, config: McpConfig) -> str | None:
    if not config.headers and not config.env:
        return None
    payload = json.dumps({"headers": dict(config.headers), "env": dict(config.env)})
    return box.encrypt(payload, owner=mcp_owner(server_id))


async def create_mcp_server(
    session: AsyncSession,
    *,
    settings: Settings,
    box: SecretBox,
    actor: Actor,
    name: str,
    description: str,
    config: McpConfig,
    enabled: bool,
) -> McpServer:
    """Register a server and discover its tools (a failed discovery is kept in `last_error`)."""
    assert actor.org_id is not None  # noqa: S101
    await _name_free(session, McpServer, _check_name(name))
    checked = _validated(settings, config)
    server_id = new_id()
    server = McpServer(
        id=server_id,
        org_id=actor.org_id,
        created_by_id=actor.user_id,
        name=name,
        description=description,
        transport=checked.transport,
        command=checked.command,
        url=checked.url,
        header_names=sorted(checked.headers),
        env_names=sorted(checked.env),
        secrets_encrypted=_seal(box, server_id, checked),
        enabled=enabled,
        tools=[],
    )
    session.add(server)
    actor.audit(
        session,
        "mcp_server.created",
        target_type="mcp_server",
        target_id=str(server_id),
        details={
            "name": name,
            "transport": checked.transport,
            "command": checked.command,
            "url": checked.url,
        },
    )
    await session.commit()
    return await discover(session, settings=settings, box=box, server=server)


async def update_mcp_server(
    session: AsyncSession,
    *,
    settings: Settings,
    box: SecretBox,
    actor: Actor,
    server: McpServer,
    description: str | None,
    enabled: bool | None,
    config: McpConfig | None,
) -> McpServer:
    """Change a server; a new connection configuration replaces the old one whole and is rediscovered."""
    if description is not None:
        server.description = description
    if enabled is not None:
        server.enabled = enabled
    if config is not None:
        checked = _validated(settings, config)
        server.transport, server.command, server.url = checked.transport, checked.command, checked.url
        server.header_names, server.env_names = sorted(checked.headers), sorted(checked.env)
        server.secrets_encrypted = _seal(box, server.id, checked)
    actor.audit(
        session,
        "mcp_server.updated",
        target_type="mcp_server",
        target_id=str(server.id),
        details={"connection_changed": config is not None},
    )
    await session.commit()
    if config is not None:
        return await discover(session, settings=settings, box=box, server=server)
    await session.refresh(server)
    return server


async def delete_mcp_server(session: AsyncSession, *, actor: Actor, server: McpServer) -> None:
    """Forget a server (agents naming it no longer get its tools)."""
    await session.delete(server)
    actor.audit(session, "mcp_server.deleted", target_type="mcp_server", target_id=str(server.id))
    await session.commit()
