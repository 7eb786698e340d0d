"""Agents: CRUD with immutable versions, diff and rollback, clone, export/import, prompt preview."""

from __future__ import annotations

import json
import re
import uuid
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from agentic.api.deps import SessionDep
from agentic.api.routes import API_PREFIX
from agentic.api.security import Principal, require
from agentic.db.models import Agent, AgentVersion, AgentVisibility
from agentic.errors import AgenticError, InvalidInput
from agentic.schemas.agents import (
    AgentCreate,
    AgentOut,
    AgentPage,
    AgentSummary,
    AgentUpdate,
    Change,
    CloneIn,
    DiffOut,
    RenderDraftIn,
    RenderDraftOut,
    RenderedMessage,
    RenderIn,
    RenderOut,
    RollbackIn,
    VersionOut,
    VersionPage,
    VersionSummary,
)
from agentic.schemas.common import MAX_DB_INT, error_responses
from agentic.security.permissions import Permission
from agentic.services import agents as service

router = APIRouter(prefix=f"{API_PREFIX}/agents", tags=["agents"])

Reader = Annotated[Principal, require(Permission.AGENTS_READ)]
Writer = Annotated[Principal, require(Permission.AGENTS_WRITE)]

_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class MalformedDocument(AgenticError):
    """The imported document is not parseable JSON or YAML."""

    code = "malformed_document"
    status_code = 400


class UnsupportedMediaType(AgenticError):
    """The import body is neither JSON nor YAML."""

    code = "unsupported_media_type"
    status_code = 415


def _viewer(principal: Principal) -> service.Viewer:
    return service.Viewer(user_id=principal.user_id, sees_all=principal.can(Permission.AGENTS_MANAGE))


def _summary(agent: Agent) -> AgentSummary:
    return AgentSummary(
        id=agent.id,
        name=agent.name,
        description=agent.description,
        visibility=agent.visibility,
        owner_id=agent.owner_id,
        latest_version=agent.latest_version,
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )


def _out(agent: Agent, version: AgentVersion) -> AgentOut:
    config = version.config or {}
    return AgentOut(
        **_summary(agent).model_dump(),
        version_id=version.id,
        model=dict(config.get("model") or {}),
        system_prompt=str(config.get("system_prompt") or ""),
        prompt_template=config.get("prompt_template"),
        input_schema=config.get("input_schema"),
        tools=list(config.get("tools") or []),
        policies=dict(config.get("policies") or {}),
    )


def _version_summary(version: AgentVersion) -> VersionSummary:
    return VersionSummary(
        id=version.id,
        version=version.version,
        created_by_id=version.created_by_id,
        created_at=version.created_at,
    )


def _cursor(cursor: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(cursor) if cursor else None
    except ValueError:
        raise InvalidInput("Invalid cursor.", details=[{"loc": ["query", "cursor"]}]) from None


@router.get("", responses=error_responses(422), summary="List agents, newest first")
async def list_agents(
    principal: Reader,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name (any case).")] = None,
    owner_id: uuid.UUID | None = None,
    visibility: AgentVisibility | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> AgentPage:
    """Agents of the organisation the caller may see.

    Shared ones and their own private ones; every agent with agents:manage.
    """
    agents = await service.list_agents(
        session,
        viewer=_viewer(principal),
        query=q,
        owner_id=owner_id,
        visibility=visibility,
        limit=limit,
        before_id=_cursor(cursor),
    )
    return AgentPage(
        items=[_summary(a) for a in agents], next_cursor=str(agents[-1].id) if len(agents) == limit else None
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses=error_responses(403, 422), summary="Create an agent"
)
async def create_agent(body: AgentCreate, principal: Writer, session: SessionDep) -> AgentOut:
    """The caller owns it; its configuration is version 1."""
    agent, version = await service.create_agent(
        session, actor=principal.actor(), config=body.to_config(), visibility=body.visibility
    )
    return _out(agent, version)


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 403, 415, 422),
    summary="Create an agent from an exported document (JSON or YAML)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "An export (`GET /v1/agents/{agent_id}/export`): an agent body with optional "
            "`kind: agentic.agent` and `format_version: 1`.",
            "content": {
                media: {"schema": {"$ref": "#/components/schemas/AgentCreate"}}
                for media in ("application/json", "application/yaml")
            },
        }
    },
)
async def import_agent(request: Request, principal: Writer, session: SessionDep) -> AgentOut:
    """JSON by default; YAML with `Content-Type: application/yaml`. The caller owns the new agent."""
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    raw = await request.body()
    if media in _YAML_TYPES:
        document = _load_yaml(raw)
    elif media in ("application/json", "") or media.endswith("+json"):
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise MalformedDocument("The request body is not valid JSON.") from None
    else:
        raise UnsupportedMediaType("Send the document as application/json or application/yaml.")
    agent, version = await service.import_agent(session, actor=principal.actor(), document=document)
    return _out(agent, version)


def _load_yaml(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
        # Aliases let a small document expand into a huge one (billion laughs); exports never use them.
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise MalformedDocument("YAML aliases (`*name`) are not accepted.")
        return yaml.safe_load(text)
    except (yaml.YAMLError, UnicodeDecodeError):
        raise MalformedDocument("The request body is not valid YAML.") from None


@router.get("/{agent_id}", responses=error_responses(404), summary="An agent and its latest configuration")
async def get_agent(agent_id: uuid.UUID, principal: Reader, session: SessionDep) -> AgentOut:
    """404 for a deleted agent, and for another member's private one."""
    agent = await service.get_agent(session, agent_id=agent_id, viewer=_viewer(principal))
    return _out(agent, await service.get_version(session, agent=agent))


@router.patch(
    "/{agent_id}", responses=error_responses(403, 404, 409, 422), summary="Change an agent (a new version)"
)
async def update_agent(
    agent_id: uuid.UUID, body: AgentUpdate, principal: Writer, session: SessionDep
) -> AgentOut:
    """One's own agents; anyone's with agents:manage.

    The fields given replace the current ones; any change to the definition makes a new immutable version
    (`latest_version` moves), a change that changes nothing makes none. `visibility` changes in place and is
    not versioned.
    """
    agent = await service.get_agent(session, agent_id=agent_id, viewer=_viewer(principal))
    agent, version = await service.update_agent(
        session,
        agent=agent,
        actor=principal.actor(),
        may_manage_all=principal.can(Permission.AGENTS_MANAGE),
        changes=body.config_changes(),
        visibility=body.visibility if "visibility" in body.model_fields_set else None,
    )
    return _out(agent, version)


@router.delete(
    "/{agent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(403, 404),
    summary="Delete an agent (soft)",
)
async def delete_agent(agent_id: uuid.UUID, principal: Writer, session: SessionDep) -> None:
    """One's own agents; anyone's with agents:manage.

    Its tasks and versions are kept; it can no longer run, and its schedules are disabled.
    """
    agent = await service.get_agent(session, agent_id=agent_id, viewer=_viewer(principal))
    await service.delete_agent(
        session, agent=agent, actor=principal.actor(), may_manage_all=principal.can(Permission.AGENTS_MANAGE)
    )


@router.get(
    "/{agent_id}/versions", responses=error_responses(404, 422), summary="An agent's versions, newest first"
)
async def list_versions(
    agent_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        int | None, Query(ge=1, le=MAX_DB_INT, description="A `next_cursor` from the previous page.")
    ] = None,
) -> VersionPage:
    """Version numbers, authors and times; `GET …/versions/{version}` has the configuration."""
    agent = await service.get_agent(session, agent_id=agent_id, viewer=_viewer(principal))
    versions = await service.list_versions(session, agent=agent, limit=limit, before=cursor)
    return VersionPage(
        items=[_version_summary(v) for v in versions],
        next_cursor=str(versions[-1].version) if len(versions) == limit else None,
    )


@router.get(
    "/{agent_id}/versions/{version}",
    responses=error_responses(404),
    summary="One immutable version of an agent",
)
async def get_version(
    agent_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=MAX_DB_INT)],
    principal: Reader,
    session: SessionDep,
) -> VersionOut:
    """The configuration exactly as tasks that pinned this version run it."""
    agent = await service.get_agent(session, agent_id=agent_id, viewer=_viewer(principal))
    found = await service.get_version(session, agent=agent, version=version)
    return VersionOut(**_version_summary(found).model_dump(), agent_id=agent.id, config=found.config)


@router.get(
    "/{agent_id}/diff", responses=error_responses(404, 422), summary="What changed between two versions"
)
async def diff_versions(
    agent_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    from_version: Annotated[
        int | None, Query(alias="from", ge=1, le=MAX_DB_INT, description="Default: `to` minus 1.")
    ] = None,
    to_version: Annotated[
        int | None, Query(alias="to", ge=1, le=MAX_DB_INT, description="Default: the latest.")
    ] = None,
) -> DiffOut:
    """Leaf-by-leaf changes as JSON Pointer paths with the old and new values (lists by position)."""
    agent = await service.get_agent(session, agent_id=agent_id, viewer=_viewer(principal))
    to_number = to_version or agent.latest_version
    from_number = from_version or max(to_number - 1, 1)
    changes = await service.diff_versions(
        session, agent=agent, from_version=from_number, to_version=to_number
    )
    return DiffOut(
        agent_id=agent.id,
        from_version=from_number,
        to_version=to_number,
        changes=[Change(path=c.path, op=c.op, from_=c.before, to=c.after) for c in changes],
    )


@router.post(
    "/{agent_id}/rollback",
    responses=error_responses(403, 404, 409, 422),
    summary="Make an earlier version's configuration the latest again",
)
async def rollback_agent(
    agent_id: uuid.UUID, body: RollbackIn, principal: Writer, session: SessionDep
) -> AgentOut:
    """A new version equal to `version` (history is never rewritten); none when it is the latest already.

    One's own agents; anyone's with agents:manage.
    """
    agent = await service.get_agent(session, agent_id=agent_id, viewer=_viewer(principal))
    agent, latest = await service.rollback_agent(
        session,
        agent=agent,
        actor=principal.actor(),
        may_manage_all=principal.can(Permission.AGENTS_MANAGE),
        version=body.version,
    )
    return _out(agent, latest)


@router.post(
    "/{agent_id}/clone",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(403, 404, 422),
    summary="Copy an agent into a new one owned by the caller",
)
async def clone_agent(agent_id: uuid.UUID, body: CloneIn, principal: Writer, session: SessionDep) -> AgentOut:
    """Any agent the caller can see; the copy starts at version 1."""
    agent = await service.get_agent(session, agent_id=agent_id, viewer=_viewer(principal))
    clone, version = await service.clone_agent(
        session,
        agent=agent,
        actor=principal.actor(),
        name=body.name,
        visibility=body.visibility,
        version=body.version,
    )
    return _out(clone, version)


@router.get(
    "/{agent_id}/export",
    responses={
        200: {"content": {"application/json": {}, "application/yaml": {}}},
        **error_responses(404, 422),
    },
    summary="Export an agent as JSON or YAML",
    response_class=Response,
)
async def export_agent(
    agent_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    format: Literal["json", "yaml"] = "json",
    version: Annotated[int | None, Query(ge=1, le=MAX_DB_INT, description="Default: the latest.")] = None,
) -> Response:
    """A portable document (no IDs, owner or history) that `POST /v1/agents/import` takes back."""
    agent = await service.get_agent(session, agent_id=agent_id, viewer=_viewer(principal))
    document = service.export_document(
        agent, await service.get_version(session, agent=agent, version=version)
    )
    filename = re.sub(r"[^A-Za-z0-9_.-]+", "-", agent.name).strip("-")[:80] or "agent"
    headers = {"content-disposition": f'attachment; filename="{filename}.agent.{format}"'}
    if format == "yaml":
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        return Response(text, media_type="application/yaml", headers=headers)
    return JSONResponse(document, headers=headers)


@router.post(
    "/render",
    responses=error_responses(422),
    summary="Preview the prompt of templates not saved yet (the editor's live preview)",
)
async def render_draft(body: RenderDraftIn, _principal: Reader) -> RenderDraftOut:
    """Checks the schema and templates as saving would, validates `input`, renders in the sandbox.

    Errors are 422 and name the field, as for `POST /v1/agents/{agent_id}/render`.
    """
    config: dict[str, Any] = {"system_prompt": body.system_prompt}
    if body.prompt_template is not None:
        config["prompt_template"] = body.prompt_template
    if body.input_schema is not None:
        config["input_schema"] = body.input_schema
    rendered = await service.render_draft(config, body.input)
    return RenderDraftOut(
        system_prompt=rendered.system_prompt,
        messages=[RenderedMessage(role=m["role"], content=m["content"]) for m in rendered.messages],
    )


@router.post(
    "/{agent_id}/render",
    responses=error_responses(404, 422),
    summary="Preview the prompt a run would send for an input",
)
async def render_agent(
    agent_id: uuid.UUID, body: RenderIn, principal: Reader, session: SessionDep
) -> RenderOut:
    """Validates `input` against the version's `input_schema` and renders its templates in the sandbox.

    Errors are 422 and name the field: `invalid_input` (loc `["body", "input", …]`), `template_unsafe`
    (the sandbox refused an operation), `template_render_failed` (e.g. an undefined variable).
    """
    agent = await service.get_agent(session, agent_id=agent_id, viewer=_viewer(principal))
    version, rendered = await service.render(session, agent=agent, version=body.version, input=body.input)
    return RenderOut(
        agent_id=agent.id,
        version=version.version,
        system_prompt=rendered.system_prompt,
        messages=[RenderedMessage(role=m["role"], content=m["content"]) for m in rendered.messages],
    )
