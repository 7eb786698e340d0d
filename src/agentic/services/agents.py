"""Agents: CRUD with immutable versions, diff, rollback, clone, export/import and the prompt preview.

Every change to an agent's definition writes a new `agent_versions` row and moves `agents.latest_version`;
versions are never updated, so a task that pinned one (`tasks.agent_version_id`) runs exactly what was
current when it was created. `visibility` is the exception: it decides who may see the agent, is changed in
place, and is never versioned, so a rollback cannot widen an agent's audience.

A private agent is visible to its owner and to holders of agents:manage only; to anyone else it does not
exist (404), in lists, lookups, task creation and schedules alike.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.db.models import Agent, AgentVersion, AgentVisibility, ProviderCredential, Schedule
from agentic.db.types import utcnow
from agentic.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from agentic.prompts import (
    RenderedPrompt,
    check_input_schema,
    check_template,
    declared_variables,
    render_prompt,
)
from agentic.schemas.agents import EXPORT_FORMAT_VERSION, EXPORT_KIND, AgentImport
from agentic.services.audit import Actor
from agentic.tools.registry import BUILTIN_TOOLS

# Keys of a version's config in the order an export lists them (readable YAML).
_EXPORT_ORDER = (
    "name",
    "description",
    "model",
    "system_prompt",
    "prompt_template",
    "input_schema",
    "tools",
    "policies",
)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: private agents are visible to their owner, or to everyone when `sees_all`."""

    user_id: uuid.UUID
    sees_all: bool


def _visible(agent: Agent, viewer: Viewer) -> bool:
    return agent.visibility is AgentVisibility.ORG or viewer.sees_all or agent.owner_id == viewer.user_id


async def get_agent(session: AsyncSession, *, agent_id: uuid.UUID, viewer: Viewer) -> Agent:
    """A live agent of the session's organisation that `viewer` may see.

    Raises:
        NotFound: No such agent, deleted, another organisation's, or private to someone else.
    """
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.deleted_at is not None or not _visible(agent, viewer):
        raise NotFound("Agent not found.")
    return agent


async def check_runnable(session: AsyncSession, *, agent_id: uuid.UUID, viewer: Viewer) -> Agent | None:
    """Refuse to queue runs of a private agent for someone who cannot see it (404, as for a lookup).

    Deleted and unknown agents are left to the task service, which refuses them too. Returns the agent (None
    if unknown), for the caller to hand on: the session's identity map keeps unchanged objects only while
    they are referenced, so a second lookup by ID after this one returns would be a second query.
    """
    agent = await session.get(Agent, agent_id)
    if agent is not None and not _visible(agent, viewer):
        raise NotFound("Agent not found.")
    return agent


async def get_version(session: AsyncSession, *, agent: Agent, version: int | None = None) -> AgentVersion:
    """Version `version` of the agent (default: the latest).

    Raises:
        NotFound: The agent has no such version.
    """
    number = agent.latest_version if version is None else version
    found = await session.scalar(
        select(AgentVersion).where(AgentVersion.agent_id == agent.id, AgentVersion.version == number)
    )
    if found is None:
        raise NotFound(f"The agent has no version {number}.", details={"version": number})
    return found


async def list_agents(
    session: AsyncSession,
    *,
    viewer: Viewer,
    query: str | None,
    owner_id: uuid.UUID | None,
    visibility: AgentVisibility | None,
    limit: int,
    before_id: uuid.UUID | None,
) -> list[Agent]:
    """Live agents the viewer may see, newest first (UUIDv7 ids sort by creation); keyset on the id."""
    statement = select(Agent).where(Agent.deleted_at.is_(None)).order_by(Agent.id.desc()).limit(limit)
    if not viewer.sees_all:
        statement = statement.where(
            or_(Agent.visibility == AgentVisibility.ORG, Agent.owner_id == viewer.user_id)
        )
    if query:
        statement = statement.where(func.lower(Agent.name).contains(query.lower(), autoescape=True))
    if owner_id is not None:
        statement = statement.where(Agent.owner_id == owner_id)
    if visibility is not None:
        statement = statement.where(Agent.visibility == visibility)
    if before_id is not None:
        statement = statement.where(Agent.id < before_id)
    return list((await session.scalars(statement)).all())


async def list_versions(
    session: AsyncSession, *, agent: Agent, limit: int, before: int | None
) -> list[AgentVersion]:
    """The agent's versions, newest first; keyset on the version number."""
    statement = (
        select(AgentVersion)
        .where(AgentVersion.agent_id == agent.id)
        .order_by(AgentVersion.version.desc())
        .limit(limit)
    )
    if before is not None:
        statement = statement.where(AgentVersion.version < before)
    return list((await session.scalars(statement)).all())


# --- validation --------------------------------------------------------------------------------------------


def known_tool(name: str) -> bool:
    """A built-in tool, or `mcp:<server>` (whether the server exists is checked when a run starts)."""
    return name in BUILTIN_TOOLS or bool(re.fullmatch(r"mcp:[a-z0-9][a-z0-9_-]{0,31}", name))


def validate_config(config: dict[str, Any]) -> None:
    """The checks that span fields or need more than a type: tool names, input schema, templates.

    Args:
        config: A version configuration in stored form (as `AgentCreate.to_config()` makes it).

    Raises:
        InvalidInput: With details whose `loc` names the field (`["body", "tools", 1, "name"]`, …).
    """
    seen: set[str] = set()
    for index, tool in enumerate(config.get("tools") or []):
        name = str(tool.get("name"))
        if name in seen:
            raise InvalidInput(
                f"Tool names must be unique; {name!r} appears twice.",
                details=[
                    {
                        "loc": ["body", "tools", index, "name"],
                        "message": "duplicate tool name",
                        "type": "unique",
                    }
                ],
            )
        seen.add(name)
        if not known_tool(name):
            raise InvalidInput(
                f"Unknown tool {name!r}: use a built-in tool ({', '.join(sorted(BUILTIN_TOOLS))}) or "
                "`mcp:<server>` for a registered MCP server.",
                details=[
                    {
                        "loc": ["body", "tools", index, "name"],
                        "message": "unknown tool",
                        "type": "unknown_tool",
                    }
                ],
            )
    schema = config.get("input_schema")
    if schema is not None:
        check_input_schema(schema, loc=["body", "input_schema"])
    declared = declared_variables(schema)
    for key in ("system_prompt", "prompt_template"):
        template = config.get(key)
        if template:
            check_template(str(template), declared=declared, loc=["body", key])


async def check_credentials(session: AsyncSession, *, org_id: uuid.UUID, config: dict[str, Any]) -> None:
    """Every credential a model entry names exists in the organisation, for that entry's provider.

    Checked when a configuration is saved: a typo would otherwise skip that entry on every run
    (`provider_not_configured`). A credential deleted later is skipped the same way at run time.

    Raises:
        InvalidInput: With `loc` `["body", "model", "credential"]` or `[…, "fallbacks", i, "credential"]`.
    """
    model = dict(config.get("model") or {})
    entries: list[tuple[list[str | int], dict[str, Any]]] = [(["body", "model"], model)]
    entries += [
        (["body", "model", "fallbacks", index], dict(entry))
        for index, entry in enumerate(model.get("fallbacks") or [])
    ]
    named = [(loc, entry) for loc, entry in entries if entry.get("credential")]
    if not named:
        return
    rows = await session.execute(
        select(ProviderCredential.provider, ProviderCredential.name).where(
            ProviderCredential.org_id == org_id
        )
    )
    existing = {(provider, name) for provider, name in rows}
    for loc, entry in named:
        provider, name = str(entry.get("provider")), str(entry["credential"])
        if (provider, name) not in existing:
            raise InvalidInput(
                f"The organisation has no {provider} credential named {name!r}; add it under provider "
                "credentials first, or leave `credential` out to use the default one.",
                details=[{"loc": [*loc, "credential"], "message": "unknown credential", "type": "not_found"}],
            )


def _normalised(agent: Agent, config: dict[str, Any]) -> dict[str, Any]:
    # Versions written before names were snapshotted (seed data, older rows) take the agent's current ones.
    return {"name": agent.name, "description": agent.description, **config}


def _invalid_document(exc: ValidationError) -> InvalidInput:
    details = [
        {"loc": ["body", *err["loc"]], "message": err["msg"], "type": err["type"]} for err in exc.errors()
    ]
    return InvalidInput("The agent document is invalid; see details.", details=details)


# --- writes ------------------------------------------------------------------------------------------------


def _check_owner(agent: Agent, actor: Actor, may_manage_all: bool) -> None:
    if not may_manage_all and agent.owner_id != actor.user_id:
        raise PermissionDenied("Only the agent's owner or an agent manager can change it.")


async def create_agent(
    session: AsyncSession,
    *,
    actor: Actor,
    config: dict[str, Any],
    visibility: AgentVisibility,
    action: str = "agent.created",
    audit_details: dict[str, Any] | None = None,
    validate: bool = True,
) -> tuple[Agent, AgentVersion]:
    """Create an agent owned by the actor, with version 1 holding `config`.

    Args:
        session: A session bound to the actor's organisation.
        actor: The creator, who becomes the owner.
        config: Version configuration in stored form (must carry `name`).
        visibility: Who may see it.
        action: The audit action (`agent.created`, `agent.cloned`, `agent.imported`).
        audit_details: Extra audit details (e.g. the clone's source).
        validate: False for a copy of a stored version (a clone), which was checked when it was saved.

    Raises:
        InvalidInput: The configuration fails `validate_config`, or names a credential the organisation lacks.
    """
    assert actor.org_id is not None  # noqa: S101  # principals always act in an organisation
    if validate:
        validate_config(config)
        await check_credentials(session, org_id=actor.org_id, config=config)
    agent = Agent(
        org_id=actor.org_id,
        owner_id=actor.user_id,
        name=str(config["name"]),
        description=str(config.get("description") or ""),
        visibility=visibility,
        latest_version=1,
    )
    session.add(agent)
    await session.flush()
    version = AgentVersion(
        org_id=actor.org_id, agent_id=agent.id, version=1, config=config, created_by_id=actor.user_id
    )
    session.add(version)
    await session.flush()
    actor.audit(
        session,
        action,
        target_type="agent",
        target_id=str(agent.id),
        details={"version": 1, **(audit_details or {})},
    )
    await session.commit()
    return agent, version


async def _new_version(
    session: AsyncSession, *, agent: Agent, actor: Actor, config: dict[str, Any]
) -> AgentVersion:
    """Append version latest+1 with `config` and move `latest_version` (caller commits)."""
    number = agent.latest_version + 1
    agent.latest_version = number
    agent.name = str(config["name"])
    agent.description = str(config.get("description") or "")
    version = AgentVersion(
        org_id=agent.org_id, agent_id=agent.id, version=number, config=config, created_by_id=actor.user_id
    )
    session.add(version)
    try:
        await session.flush()
    except IntegrityError:
        # Two changes raced for the same version number (unique agent_id + version): the later one loses,
        # rather than silently basing itself on a configuration it never saw.
        await session.rollback()
        raise Conflict(
            "The agent was changed at the same time; fetch it and apply your change again.",
            code="agent_changed",
        ) from None
    return version


async def update_agent(
    session: AsyncSession,
    *,
    agent: Agent,
    actor: Actor,
    may_manage_all: bool,
    changes: dict[str, Any],
    visibility: AgentVisibility | None,
) -> tuple[Agent, AgentVersion]:
    """Apply `changes` (configuration fields in stored form) as a new version; `visibility` in place.

    A change that changes nothing makes no version. Returns the agent and its (possibly new) latest version.

    Raises:
        PermissionDenied: Neither the owner nor an agent manager.
        InvalidInput: The resulting configuration is invalid.
        Conflict: A concurrent change took the version number (`agent_changed`).
    """
    _check_owner(agent, actor, may_manage_all)
    current = await get_version(session, agent=agent)
    before = _normalised(agent, current.config)
    merged = {**before, **changes}
    for key in ("prompt_template", "input_schema"):
        if merged.get(key) is None:
            merged.pop(key, None)  # `null` removes it
    fields: list[str] = sorted(key for key in changes if before.get(key) != merged.get(key))
    latest = current
    if merged != before:
        validate_config(merged)
        if merged.get("model") != before.get("model"):
            await check_credentials(session, org_id=agent.org_id, config=merged)
        latest = await _new_version(session, agent=agent, actor=actor, config=merged)
    if visibility is not None and visibility is not agent.visibility:
        agent.visibility = visibility
        fields.append("visibility")
    if not fields:
        return agent, latest
    actor.audit(
        session,
        "agent.updated",
        target_type="agent",
        target_id=str(agent.id),
        details={"version": latest.version, "fields": sorted(fields)},
    )
    await session.commit()
    return agent, latest


async def rollback_agent(
    session: AsyncSession, *, agent: Agent, actor: Actor, may_manage_all: bool, version: int
) -> tuple[Agent, AgentVersion]:
    """Make a new version whose configuration equals version `version` (none if it equals the latest).

    Raises:
        PermissionDenied: Neither the owner nor an agent manager.
        NotFound: No such version.
    """
    _check_owner(agent, actor, may_manage_all)
    target = await get_version(session, agent=agent, version=version)
    current = await get_version(session, agent=agent)
    config = _normalised(agent, target.config)
    if config == _normalised(agent, current.config):
        return agent, current
    latest = await _new_version(session, agent=agent, actor=actor, config=config)
    actor.audit(
        session,
        "agent.rolled_back",
        target_type="agent",
        target_id=str(agent.id),
        details={"from_version": version, "version": latest.version},
    )
    await session.commit()
    return agent, latest


async def delete_agent(session: AsyncSession, *, agent: Agent, actor: Actor, may_manage_all: bool) -> None:
    """Soft-delete: the agent disappears and cannot run; tasks keep their pinned versions and history.

    Its schedules are disabled in the same transaction, so they do not keep failing every time they fire.

    Raises:
        PermissionDenied: Neither the owner nor an agent manager.
    """
    _check_owner(agent, actor, may_manage_all)
    now = utcnow()
    agent.deleted_at = now
    await session.execute(
        update(Schedule)
        .where(Schedule.agent_id == agent.id, Schedule.enabled.is_(True))
        .values(
            enabled=False, next_run_at=None, last_error="agent_deleted: the agent was deleted", updated_at=now
        )
        .execution_options(synchronize_session=False)
    )
    actor.audit(session, "agent.deleted", target_type="agent", target_id=str(agent.id))
    await session.commit()


async def clone_agent(
    session: AsyncSession,
    *,
    agent: Agent,
    actor: Actor,
    name: str,
    visibility: AgentVisibility | None,
    version: int | None,
) -> tuple[Agent, AgentVersion]:
    """A new agent owned by the actor, starting at version 1 with a copy of `version` (default the latest)."""
    source = await get_version(session, agent=agent, version=version)
    config = {**_normalised(agent, source.config), "name": name}
    return await create_agent(
        session,
        actor=actor,
        config=config,
        visibility=visibility or agent.visibility,
        action="agent.cloned",
        audit_details={"source_agent_id": str(agent.id), "source_version": source.version},
        validate=False,
    )


# --- export, import ----------------------------------------------------------------------------------------


def export_document(agent: Agent, version: AgentVersion) -> dict[str, Any]:
    """A portable document of the agent at `version`: what `import_agent` takes back (no IDs, no owner)."""
    config = _normalised(agent, version.config)
    document: dict[str, Any] = {"kind": EXPORT_KIND, "format_version": EXPORT_FORMAT_VERSION}
    document.update({key: config[key] for key in _EXPORT_ORDER if config.get(key) is not None})
    document["visibility"] = agent.visibility.value
    return document


async def import_agent(session: AsyncSession, *, actor: Actor, document: Any) -> tuple[Agent, AgentVersion]:
    """Create an agent from an exported document (validated like a `POST /v1/agents` body).

    Raises:
        InvalidInput: The document is not an agent or fails validation (details name the field).
    """
    if not isinstance(document, dict):
        raise InvalidInput(
            "The document must be an object (a mapping).",
            details=[{"loc": ["body"], "message": "must be an object", "type": "dict_type"}],
        )
    try:
        parsed = AgentImport.model_validate(document)
    except ValidationError as exc:
        raise _invalid_document(exc) from None
    return await create_agent(
        session, actor=actor, config=parsed.to_config(), visibility=parsed.visibility, action="agent.imported"
    )


# --- diff, render ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """One difference at a JSON Pointer path."""

    path: str
    op: str
    before: Any
    after: Any


def _pointer(path: str, key: str | int) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _same(left: Any, right: Any) -> bool:
    # JSON equality: 1 == 1.0, but true is not 1.
    return isinstance(left, bool) == isinstance(right, bool) and left == right


def diff_configs(before: Any, after: Any, path: str = "") -> list[ConfigChange]:
    """The differences between two JSON documents, leaf by leaf (lists compared position by position)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[ConfigChange] = []
        for key in sorted(set(before) | set(after)):
            at = _pointer(path, key)
            if key not in after:
                changes.append(ConfigChange(at, "removed", before[key], None))
            elif key not in before:
                changes.append(ConfigChange(at, "added", None, after[key]))
            else:
                changes.extend(diff_configs(before[key], after[key], at))
        return changes
    if isinstance(before, list) and isinstance(after, list):
        changes = []
        for index in range(max(len(before), len(after))):
            at = _pointer(path, index)
            if index >= len(after):
                changes.append(ConfigChange(at, "removed", before[index], None))
            elif index >= len(before):
                changes.append(ConfigChange(at, "added", None, after[index]))
            else:
                changes.extend(diff_configs(before[index], after[index], at))
        return changes
    return [] if _same(before, after) else [ConfigChange(path or "/", "changed", before, after)]


async def diff_versions(
    session: AsyncSession, *, agent: Agent, from_version: int, to_version: int
) -> list[ConfigChange]:
    """What changed from version `from_version` to `to_version` of the agent.

    Raises:
        NotFound: Either version does not exist.
    """
    older = await get_version(session, agent=agent, version=from_version)
    newer = await get_version(session, agent=agent, version=to_version)
    return diff_configs(_normalised(agent, older.config), _normalised(agent, newer.config))


async def render_draft(config: dict[str, Any], input: dict[str, Any]) -> RenderedPrompt:
    """Render templates not saved yet (the editor's live preview), checked as saving would check them.

    Raises:
        InvalidInput: The schema, a template or the input is not acceptable; details name the field.
    """
    schema = config.get("input_schema")
    if schema is not None:
        check_input_schema(schema, loc=["body", "input_schema"])
    declared = declared_variables(schema)
    for key in ("system_prompt", "prompt_template"):
        if config.get(key):
            check_template(str(config[key]), declared=declared, loc=["body", key])
    return await asyncio.to_thread(render_prompt, config, dict(input))


async def render(
    session: AsyncSession, *, agent: Agent, version: int | None, input: dict[str, Any]
) -> tuple[AgentVersion, RenderedPrompt]:
    """Render a version's prompt for `input`, exactly as a run would.

    Raises:
        NotFound: No such version.
        InvalidInput: The input fails the version's `input_schema`, or a template fails (sandbox, undefined
            variable, …); details name the field.
    """
    found = await get_version(session, agent=agent, version=version)
    # Rendering is CPU work with its own deadline; a thread keeps it off the event loop.
    rendered = await asyncio.to_thread(render_prompt, dict(found.config), dict(input))
    return found, rendered
