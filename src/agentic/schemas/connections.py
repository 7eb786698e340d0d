"""SQL connections and MCP servers of an organisation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from agentic.schemas.common import Schema

ConnectionName = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", min_length=1, max_length=32)
]
_NAME = Field(description="What agents call it: 1-32 lower-case letters, digits, '-' or '_'.")


class SqlConnectionCreate(Schema):
    """Body of `POST /v1/sql-connections`."""

    name: ConnectionName = _NAME
    dsn: str = Field(
        min_length=1,
        max_length=2048,
        description="`postgresql://user:password@host:port/db` (use a read-only role) or "
        "`sqlite:////absolute/path.db` (inside the operator's AGENTIC_SQL_SQLITE_DIRS). Stored encrypted.",
    )
    description: str = Field(default="", max_length=500)


class SqlConnectionUpdate(Schema):
    """Body of `PATCH /v1/sql-connections/{connection_id}`."""

    dsn: str | None = Field(default=None, min_length=1, max_length=2048)
    description: str | None = Field(default=None, max_length=500)


class SqlConnectionOut(BaseModel):
    """A SQL connection; the DSN only with its password masked."""

    id: uuid.UUID
    name: str
    description: str
    kind: Literal["postgresql", "sqlite"]
    dsn: str = Field(description="The DSN with its password replaced by ***.")
    created_by_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class McpConnection(Schema):
    """How to reach an MCP server: a stdio command (operator-allowed) or a streamable-HTTP URL."""

    transport: Literal["stdio", "http"]
    command: list[Annotated[str, StringConstraints(min_length=1, max_length=1000)]] | None = Field(
        default=None, max_length=100, description="stdio: the executable and its arguments."
    )
    url: str | None = Field(default=None, max_length=2048, description="http: the streamable-HTTP endpoint.")
    headers: dict[str, Annotated[str, StringConstraints(max_length=8192)]] = Field(
        default_factory=dict, max_length=50, description="http: request headers (e.g. Authorization)."
    )
    env: dict[str, Annotated[str, StringConstraints(max_length=8192)]] = Field(
        default_factory=dict, max_length=50, description="stdio: environment of the server process."
    )


class McpServerCreate(McpConnection):
    """Body of `POST /v1/mcp-servers`; header and environment values are stored encrypted."""

    name: ConnectionName = _NAME
    description: str = Field(default="", max_length=500)
    enabled: bool = True


class McpServerUpdate(Schema):
    """Body of `PATCH /v1/mcp-servers/{server_id}`; `connection` replaces the whole connection."""

    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None
    connection: McpConnection | None = None


class McpToolOut(BaseModel):
    """A tool the server offers; agents see it as `mcp__<server>__<tool>`."""

    name: str
    description: str
    input_schema: dict[str, Any]


class ToolOut(BaseModel):
    """A built-in tool agents can be given."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(description="JSON Schema of the arguments the model passes.")
    config_schema: dict[str, Any] = Field(description="JSON Schema of the tool's `config` in an agent.")
    available: bool = Field(description="Whether this server can run it now.")
    unavailable_reason: str | None = None


class McpServerOut(BaseModel):
    """An MCP server: its connection without secret values, and the tools it offered when last asked."""

    id: uuid.UUID
    name: str
    description: str
    transport: Literal["stdio", "http"]
    command: list[str] | None
    url: str | None
    header_names: list[str]
    env_names: list[str]
    enabled: bool
    tools: list[McpToolOut]
    discovered_at: dt.datetime | None
    last_error: str | None
    created_by_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
