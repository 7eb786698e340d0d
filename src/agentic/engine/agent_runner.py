"""The `agent` runner: the agent loop, each LLM call and each tool call a durable step.

render the prompt → LLM call → tool calls → their results → LLM call → … until the model answers without tool
calls (`final`) or a limit stops the run (`max_steps`, `budget_exceeded`, `loop_detected`, `denied`). Tokens
stream into the task's events as they arrive. Every LLM call and tool call is checkpointed under a stable key
(`llm-<turn>`, `tool-<turn>-<n>`), so a retried or recovered task replays what already happened — no LLM call
is paid for twice, no tool runs twice — and a tool call left without its result by a crash is simply run on
resume (its assistant message is replayed from the LLM step), which keeps every call paired with a result.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentic.config import Settings
from agentic.db.engine import database_fault
from agentic.db.models import AgentVersion, McpServer, Membership, Organization, Role, SqlConnection, Task
from agentic.engine import store
from agentic.engine.runners import RunContext, Runner, StepFailed, StepInfo, WaitRequested
from agentic.errors import AgenticError
from agentic.llm import (
    AllTargetsFailed,
    Attempt,
    LLMError,
    LLMGateway,
    LLMRequest,
    LLMResponse,
    Message,
    StreamDone,
    Target,
    TextDelta,
    ToolCall,
)
from agentic.llm.errors import sanitize_message
from agentic.llm.redaction import redact, redact_value
from agentic.logging import get_logger
from agentic.prompts import render_prompt
from agentic.security.encryption import DecryptionError, SecretBox
from agentic.services import tasks as tasks_service
from agentic.services.connections import (
    database_networks,
    http_policy,
    server_spec,
    sql_owner,
    stdio_allowed,
)
from agentic.services.llm import call_context, stores_llm_content
from agentic.tools import registry
from agentic.tools.mcp import McpTool

log = get_logger("agentic.agent")

# Tokens are appended to the event log in small batches: one row per token would be wasteful.
_TOKEN_BATCH = 16
_TOKEN_FLUSH_S = 0.25
# What the model is told of a tool that crashed: enough to react, never a whole traceback.
_TOOL_CRASH_CHARS = 300


async def _first_messages(config: dict[str, Any], task_input: dict[str, Any]) -> list[Message]:
    """The system prompt and first user message, rendered from the version's templates."""
    try:
        # In the template sandbox, off the event loop (rendering is CPU-bound).
        rendered = await asyncio.to_thread(render_prompt, config, task_input)
    except AgenticError as exc:
        raise StepFailed(exc.message, retryable=False, code=exc.code) from exc
    messages = [Message("system", rendered.system_prompt)] if rendered.system_prompt else []
    messages.append(Message("user", rendered.messages[-1]["content"]))
    return messages


async def _load(
    sessions: async_sessionmaker[AsyncSession], ctx: RunContext
) -> tuple[AgentVersion, Organization, Role | None]:
    """The pinned version, the organisation, and the task creator's current role."""
    async with sessions() as session:
        # One round trip for all three (every run pays for it). Tools may be limited by role: the creator's
        # role now (a demoted or removed member loses them; no membership, no role).
        found = (
            await session.execute(
                select(AgentVersion, Organization, Membership.role)
                .join(Organization, Organization.id == AgentVersion.org_id)
                .join(Task, Task.id == ctx.task.id)
                .outerjoin(
                    Membership,
                    (Membership.user_id == Task.created_by_id) & (Membership.org_id == Organization.id),
                )
                .where(AgentVersion.id == ctx.task.agent_version_id, Organization.id == ctx.task.org_id)
            )
        ).first()
    if found is None:
        raise StepFailed("the agent version or organisation no longer exists", retryable=False)
    version, org, role = found
    return version, org, role


def _targets(model: dict[str, Any]) -> list[Target]:
    chain = [model, *(model.get("fallbacks") or [])]
    return [
        Target(
            str(m.get("provider", "mock")),
            str(m.get("name", "echo")),
            dict(m.get("options") or {}),
            # Each entry may name its own credential: two OpenAI-compatible servers in one chain.
            str(m["credential"]) if m.get("credential") else None,
        )
        for m in chain
    ]


_DEFAULT_MAX_STEPS = 10
# The same tool with the same arguments this many times in one run is a loop, not progress.
_LOOP_REPEATS = 3
_APPROVAL_TIMEOUT_S = 24 * 3600


def make_agent_runner(
    gateway: LLMGateway,
    sessions: async_sessionmaker[AsyncSession],
    *,
    settings: Settings | None = None,
    box: SecretBox | None = None,
    workspaces: Path | None = None,
) -> Runner:
    """The `agent` runner bound to the process's gateway, settings, secret box and workspace root."""
    all_settings = settings or Settings()
    tools_settings = all_settings.tools
    workspace_root = (workspaces or Path(".agentic") / "workspaces").resolve()

    async def run(ctx: RunContext) -> Any:
        workspace = workspace_root / str(ctx.task.id)
        try:
            return await loop(ctx, workspace)
        finally:
            # The workspace lives for one attempt: inputs and outputs are task files in the database.
            await asyncio.to_thread(shutil.rmtree, workspace, True)

    async def loop(ctx: RunContext, workspace: Path) -> Any:
        version, org, role = await _load(sessions, ctx)
        config = version.config or {}
        policies = dict(config.get("policies") or {})
        targets = _targets(dict(config.get("model") or {}))
        messages = await _first_messages(config, ctx.task.input)
        tool_specs = usable_tools(config, role)
        org_tools = await _org_tools(sessions, all_settings, box, ctx.task.org_id, list(tool_specs.values()))
        offered = registry.offer(list(tool_specs.values()), org_tools)
        definitions = tuple(o.definition for o in offered.values())
        max_steps = int(policies.get("max_steps", _DEFAULT_MAX_STEPS))
        max_tokens = policies.get("max_tokens_per_run")
        max_cost = policies.get("max_cost_per_run_usd")
        store_content = stores_llm_content(org)
        used: dict[str, Any] = {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
        seen_calls: dict[str, int] = {}
        last_text = ""

        def finish(reason: str, text: str | None = None) -> dict[str, Any]:
            return {"text": text, "stop_reason": reason, "steps": turn, "usage": dict(used)}

        turn = 0
        while turn < max_steps:
            turn += 1
            request = LLMRequest(messages=tuple(messages), tools=definitions)
            result = await ctx.step(
                f"llm-{turn}",
                _llm_step(
                    gateway, ctx, org=org, request=request, targets=targets, store_content=store_content
                ),
                kind="llm",
                name=targets[0].key,
                input={"messages": len(messages)},
                store_as=_calls_stored(box, ctx, store_content),
            )
            for key in ("input_tokens", "output_tokens"):
                used[key] += int(result["usage"].get(key, 0))
            used["cost_usd"] = round(used["cost_usd"] + float(result.get("cost_usd") or 0.0), 8)
            calls = [
                ToolCall(c["id"], c["name"], _call_arguments(c, box, ctx))
                for c in result.get("tool_calls") or []
            ]
            last_text = result.get("content") or ""
            messages.append(Message("assistant", last_text, tool_calls=tuple(calls)))
            if not calls:
                return finish("final", result.get("content"))
            if _over_budget(used, max_tokens=max_tokens, max_cost=max_cost):
                await ctx.event("agent.budget_exceeded", dict(used))
                return finish("budget_exceeded", result.get("content"))
            for number, call in enumerate(calls, start=1):
                offer = offered.get(call.name)
                spec = offer.spec if offer is not None else None
                stop = await _gate(
                    ctx, call, seen_calls, spec=spec, key=f"{turn}-{number}", policies=policies
                )
                if stop is not None:
                    return finish(stop, last_text or None)
                outcome = await ctx.step(
                    f"tool-{turn}-{number}",
                    _tool_step(
                        call,
                        offer,
                        registry.ToolContext(
                            task_id=str(ctx.task.id),
                            workspace=workspace,
                            settings=tools_settings,
                            config=dict(offer.spec.get("config") or {}) if offer is not None else {},
                            org=org_tools,
                            files=_TaskFiles(sessions, ctx, f"tool-{turn}-{number}"),
                        ),
                    ),
                    kind="tool",
                    name=call.name,
                    input={"arguments": redact_value(call.arguments)} if store_content else None,
                    store_as=_tool_result_stored(store_content),
                )
                # A replay gives the model what was stored: the redacted result, or a note that none was.
                content = outcome.get("content", _CONTENT_NOT_STORED)
                messages.append(Message("tool", content, tool_call_id=call.id, name=call.name))
        return finish("max_steps", last_text or None)

    return run


_ROLE_RANK = {Role.USER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


def usable_tools(config: dict[str, Any], role: Role | None) -> dict[str, dict[str, Any]]:
    """The agent's tools this run may offer the model: in the allowlist, and allowed for the creator's role.

    A tool outside this set is neither offered nor run; a call to it gets a `tool_not_allowed` result.
    """
    policies = dict(config.get("policies") or {})
    allowlist = policies.get("tool_allowlist")
    usable: dict[str, dict[str, Any]] = {}
    for spec in config.get("tools") or []:
        name = str(spec.get("name"))
        if allowlist is not None and name not in allowlist:
            continue
        min_role = spec.get("min_role")
        if min_role is not None and (role is None or _ROLE_RANK[role] < _ROLE_RANK[Role(min_role)]):
            continue
        usable[name] = dict(spec)
    return usable


def approval_reason(spec: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """Why this call needs a human's approval (the tool is gated, or which rule matched), or None."""
    if spec.get("needs_approval"):
        return f"every call of {spec.get('name')} needs approval"
    for number, rule in enumerate(spec.get("approval_rules") or [], start=1):
        patterns = dict(rule.get("arguments") or {})
        if patterns and all(_matches(arguments, name, pattern) for name, pattern in patterns.items()):
            shown = ", ".join(f"{name} ~ {pattern}" for name, pattern in patterns.items())
            return f"approval rule {number} matched ({shown})"
    return None


def _matches(arguments: dict[str, Any], name: str, pattern: str) -> bool:
    if name not in arguments:
        return False
    value = arguments[name]
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    # Case-sensitive on purpose: "DELETE" must not be matched by a rule written for "delete" by accident, and
    # fnmatch's translation has no catastrophic backtracking (unlike a user-written regex).
    return fnmatch.fnmatchcase(text, pattern)


def _over_budget(used: dict[str, Any], *, max_tokens: Any, max_cost: Any) -> bool:
    if max_tokens is not None and used["input_tokens"] + used["output_tokens"] > int(max_tokens):
        return True
    return max_cost is not None and float(used["cost_usd"]) > float(max_cost)


async def _gate(
    ctx: RunContext,
    call: ToolCall,
    seen_calls: dict[str, int],
    *,
    spec: dict[str, Any] | None,
    key: str,
    policies: dict[str, Any],
) -> str | None:
    """Whether a tool call may run: the stop reason if not (a loop, or a human said no)."""
    signature = json.dumps([call.name, call.arguments], sort_keys=True, default=str)
    seen_calls[signature] = seen_calls.get(signature, 0) + 1
    if seen_calls[signature] >= _LOOP_REPEATS:
        await ctx.event("agent.loop_detected", {"tool": call.name, "repeats": seen_calls[signature]})
        return "loop_detected"
    reason = approval_reason(spec, call.arguments) if spec is not None else None
    if reason is not None:
        # Parks the task (no worker slot held) until someone approves or denies; the default is to deny. The
        # request shows the exact arguments that will run if approved.
        decision = await ctx.wait_for(
            f"approval-{key}",
            timeout_s=float(policies.get("approval_timeout_s", _APPROVAL_TIMEOUT_S)),
            default={"approved": False, "comment": "timed out"},
            approval=store.ApprovalRequest(tool=call.name, arguments=call.arguments, reason=reason),
        )
        signal = decision.get("signal") or {}
        if not (isinstance(signal, dict) and signal.get("approved")):
            await ctx.event(
                "agent.denied",
                {
                    "tool": call.name,
                    "timed_out": bool(decision.get("timed_out")),
                    "comment": signal.get("comment"),
                }
                if isinstance(signal, dict)
                else {"tool": call.name},
            )
            return "denied"
    return None


def _prepare_workspace(workspace: Path) -> None:
    workspace.mkdir(parents=True, exist_ok=True)
    workspace.chmod(0o711)  # the sandbox's unprivileged uid must be able to reach its workspace


# What a replayed conversation shows for a tool result the organisation did not let us store.
_CONTENT_NOT_STORED = "[the tool's result was not stored: this organisation does not store content]"


def _sealing_owner(ctx: RunContext) -> str:
    # Bound to the organisation, not the task: a retry of the task replays its steps in a new task (and must
    # run the same calls), while a sealed call copied into another organisation's steps does not decrypt.
    return f"org-tool-call:{ctx.task.org_id}"


def _calls_stored(box: SecretBox | None, ctx: RunContext, store_content: bool) -> Callable[[Any], Any]:
    """How an LLM step's tool calls are stored: redacted (or left out) for people, sealed for the replay.

    A resumed run must execute exactly the calls the model made, so their arguments are kept — encrypted
    with the process's secret box (`sealed`); what anyone reading the step sees is the redacted copy, or
    nothing when the organisation does not store content. Without a box (an engine built without one, in
    tests) the arguments are kept as they are, as before.
    """

    def stored(output: dict[str, Any]) -> dict[str, Any]:
        calls = []
        for call in output.get("tool_calls") or []:
            arguments = call["arguments"]
            if box is None:
                calls.append(call)
                continue
            calls.append(
                {
                    "id": call["id"],
                    "name": call["name"],
                    "arguments": redact_value(arguments) if store_content else None,
                    "sealed": box.encrypt(json.dumps(arguments), owner=_sealing_owner(ctx)),
                }
            )
        return {**output, "tool_calls": calls}

    return stored


def _call_arguments(call: dict[str, Any], box: SecretBox | None, ctx: RunContext) -> dict[str, Any]:
    """A tool call's exact arguments: this run's own, or a replayed step's sealed copy."""
    sealed = call.get("sealed")
    if sealed is None:
        return dict(call["arguments"])
    if box is None:
        raise StepFailed("a sealed tool call cannot be replayed without the secret key", code="runner_error")
    try:
        arguments: dict[str, Any] = json.loads(box.decrypt(sealed, owner=_sealing_owner(ctx)))
    except DecryptionError:
        # Trying again cannot help: the key changed (AGENTIC_SECURITY_SECRET_KEY) since the call was made.
        raise StepFailed(
            "a tool call of an earlier step cannot be opened: the secret key changed since it was stored",
            retryable=False,
            code="runner_error",
        ) from None
    return arguments


def _tool_result_stored(store_content: bool) -> Callable[[Any], Any]:
    """A tool result as stored: redacted; without content (sizes and the error's code only) when forbidden."""

    def stored(result: dict[str, Any]) -> dict[str, Any]:
        if store_content:
            redacted: dict[str, Any] = redact_value(result)
            return redacted
        kept: dict[str, Any] = {"content_stored": False, "chars": len(str(result.get("content") or ""))}
        error = result.get("error")
        if isinstance(error, dict):
            kept["error"] = {"code": error.get("code"), "message": redact(str(error.get("message") or ""))}
        return kept

    return stored


def _tool_error(code: str, message: str) -> dict[str, Any]:
    """A tool step's result for a call that did not run (or crashed): stored, and shown to the model."""
    error = {"code": code, "message": message}
    return {"error": error, "content": json.dumps({"error": error})}


def _tool_step(call: ToolCall, offer: registry.Offered | None, context: registry.ToolContext) -> Any:
    async def run(info: StepInfo) -> dict[str, Any]:
        if offer is None:  # not one of this agent's tools (or not allowed): the model is told, nothing runs
            return _tool_error("tool_not_allowed", f"{call.name} is not available to this agent")
        try:
            await asyncio.to_thread(_prepare_workspace, context.workspace)
            return await registry.execute(call.name, call.arguments, context, offer)
        except (StepFailed, WaitRequested, store.LeaseLost):
            raise  # the engine's own signals, not the tool's failure
        except Exception as exc:
            if database_fault(exc) is not None:
                raise  # our database, not the tool: the engine gives the try back and runs the call again
            # A tool that crashes (a bug, an event loop refusing its subprocess arguments, a workspace it
            # cannot create) is a failed tool call the model is told about and the timeline shows, like any
            # tool error: not a crash of the whole attempt, retried until the task is dead.
            log.exception("agent.tool_crashed", task_id=context.task_id, step=info.key, tool=call.name)
            detail = sanitize_message(f"{type(exc).__name__}: {exc}", limit=_TOOL_CRASH_CHARS)
            return _tool_error("tool_crashed", f"{call.name} failed: {detail}")

    return run


class _TaskFiles:
    """The task's input and output files in the database, for the tool call of one step."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ctx: RunContext, step_key: str) -> None:
        self._sessions, self._ctx, self._step_key = sessions, ctx, step_key

    async def inputs(self) -> dict[str, bytes]:
        async with self._sessions() as session:
            return await tasks_service.input_files(session, task_id=self._ctx.task.id)

    async def save(self, files: dict[str, bytes]) -> None:
        async with self._sessions() as session:
            await tasks_service.save_outputs(
                session,
                org_id=self._ctx.task.org_id,
                task_id=self._ctx.task.id,
                step_key=self._step_key,
                files=files,
            )


def _mcp_tools(settings: Settings, box: SecretBox, server: McpServer) -> registry.McpServerTools:
    return registry.McpServerTools(
        spec=server_spec(server, box),
        tools=tuple(
            McpTool(str(t["name"]), str(t.get("description") or ""), dict(t.get("input_schema") or {}))
            for t in server.tools or []
        ),
        policy=http_policy(settings, str(server.url)) if server.transport == "http" else None,
    )


async def _org_tools(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    box: SecretBox | None,
    org_id: uuid.UUID,
    specs: list[dict[str, Any]],
) -> registry.OrgTools:
    """The SQL connections and MCP servers this run's tools name, with their secrets decrypted."""
    servers = {str(s["name"]).removeprefix("mcp:") for s in specs if str(s.get("name")).startswith("mcp:")}
    connections = {
        str(name)
        for spec in specs
        if spec.get("name") == "sql_query"
        for name in (spec.get("config") or {}).get("connections") or []
    }
    sql: dict[str, str] = {}
    mcp_servers: dict[str, registry.McpServerTools] = {}
    if (servers or connections) and box is not None:
        async with sessions() as session:
            rows = await session.scalars(
                select(SqlConnection).where(
                    SqlConnection.org_id == org_id, SqlConnection.name.in_(connections)
                )
            )
            for row in rows:
                with contextlib.suppress(DecryptionError):  # reported by the tool as an unknown connection
                    sql[row.name] = box.decrypt(row.dsn_encrypted, owner=sql_owner(row.id))
            found = await session.scalars(
                select(McpServer).where(
                    McpServer.org_id == org_id, McpServer.name.in_(servers), McpServer.enabled.is_(True)
                )
            )
            for server in found:
                if server.transport == "stdio" and not stdio_allowed(settings, list(server.command or [])):
                    continue  # the operator no longer allows its command: not offered, never started
                with contextlib.suppress(AgenticError):  # undecryptable: its tools are simply not offered
                    mcp_servers[server.name] = _mcp_tools(settings, box, server)
    return registry.OrgTools(
        sql=sql,
        mcp=mcp_servers,
        search=settings.search,
        sql_settings=settings.sql,
        mcp_timeout_s=settings.mcp.call_timeout_s,
        sql_networks=database_networks(settings),
    )


def _cost(gateway: LLMGateway, response: LLMResponse, served: Target) -> float:
    # Providers answer with a dated model name (`gpt-4o-2024-08-06`); price it as the configured target it
    # came from when the exact name has no price.
    model = response.model
    if gateway.prices.price(served.provider, model) is None:
        model = served.model
    return float(gateway.prices.cost(served.provider, model, response.usage))


def _attempt_record(attempt: Attempt) -> dict[str, Any]:
    """An attempt as the trace stores it (step output and events): only the fields that say something."""
    record: dict[str, Any] = {
        "target": attempt.target,
        "position": attempt.position,
        "number": attempt.number,
        "outcome": attempt.outcome,
        "latency_ms": round(attempt.latency_ms, 1),
    }
    if attempt.error_code is not None:
        record["error_code"] = attempt.error_code
    if attempt.error_message is not None:
        # Upstream messages may quote the request: redacted like any content that is stored.
        record["error_message"] = redact(attempt.error_message)
    if attempt.retry_in_s is not None:
        record["retry_in_s"] = attempt.retry_in_s
    if attempt.breaker_state != "closed":
        record["breaker"] = attempt.breaker_state
    return record


def _served_by(targets: list[Target], attempts: list[Attempt]) -> Target:
    """The target that answered: the one of the last successful attempt."""
    ok = next((a for a in reversed(attempts) if a.outcome == "ok"), None)
    return targets[ok.position] if ok is not None else targets[0]


def _llm_step(
    gateway: LLMGateway,
    ctx: RunContext,
    *,
    org: Organization,
    request: LLMRequest,
    targets: list[Target],
    store_content: bool,
) -> Any:
    async def llm_step(info: StepInfo) -> dict[str, Any]:
        buffer: list[str] = []
        streamed: list[str] = []  # all text so far: a stream that fails part-way keeps what it said
        attempts: list[Attempt] = []
        flushed = time.monotonic()
        response: LLMResponse | None = None
        context = call_context(org, agent_id=ctx.task.agent_id, task_id=ctx.task.id, step_key=info.key)

        def stored(text: str) -> dict[str, Any]:
            # Content is redacted before it is stored; an organisation may forbid storing it at all.
            return {"text": redact(text)} if store_content else {"chars": len(text)}

        async def on_attempt(attempt: Attempt) -> None:
            # Retries and fallbacks enter the trace as they happen: a failed or skipped attempt, and the
            # success that follows one (which target finally answered).
            if attempt.outcome != "ok" or attempt.position > 0 or attempt.number > 1:
                await ctx.event("llm.attempt", {"step": info.key, **_attempt_record(attempt)})

        try:
            async for chunk in gateway.stream(
                request, targets=targets, context=context, on_attempt=on_attempt, attempts=attempts
            ):
                if isinstance(chunk, TextDelta):
                    buffer.append(chunk.text)
                    streamed.append(chunk.text)
                    if len(buffer) >= _TOKEN_BATCH or time.monotonic() - flushed > _TOKEN_FLUSH_S:
                        await ctx.event("llm.tokens", {"step": info.key, **stored("".join(buffer))})
                        buffer, flushed = [], time.monotonic()
                elif isinstance(chunk, StreamDone):
                    response = chunk.response
        except LLMError as exc:
            # The LLM error's class (rate_limited, timeout, …) is what an agent's retry policy names; when
            # the whole fallback chain failed, the class is that of the final error.
            cause = exc.last if isinstance(exc, AllTargetsFailed) else exc
            partial = "".join(streamed)
            if buffer:
                await ctx.event("llm.tokens", {"step": info.key, **stored("".join(buffer))})
            # What was streamed before the failure, and how each attempt went, stay in the trace (the live
            # event, and the failed step's error): a retry of the step starts the answer again.
            trace = {"partial": stored(partial), "attempts": [_attempt_record(a) for a in attempts]}
            await ctx.event(
                "llm.failed",
                {"step": info.key, "error": {"code": cause.code, "message": exc.message}, **trace},
            )
            message = exc.message
            if partial:
                message += f" (after {len(partial)} characters of answer)"
            raise StepFailed(
                message,
                retryable=exc.retryable or exc.fallback,
                code=cause.code,
                details=trace if partial or attempts else None,
            ) from exc
        if buffer:
            await ctx.event("llm.tokens", {"step": info.key, **stored("".join(buffer))})
        assert response is not None  # noqa: S101  # a finished stream always ends with StreamDone
        served = _served_by(targets, attempts)
        info.rename(served.key)  # the timeline names the model that answered, not only the primary
        return {
            # Redacted, or not stored at all when the organisation forbids it (a replay then gives the model
            # an empty assistant turn). Tool calls are kept: a resumed run must execute exactly those calls.
            "content": redact(response.content) if store_content else None,
            "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
            ],
            "provider": response.provider,
            "model": response.model,
            "finish_reason": response.finish_reason,
            "usage": {
                "input_tokens": response.usage.input_tokens,
                "output_tokens": response.usage.output_tokens,
            },
            # What the call cost by the gateway's price table (0 for unpriced models): the run's cost budget.
            "cost_usd": _cost(gateway, response, served),
            # Which entry of the chain answered, and every attempt it took (retries, fallbacks, skips).
            "served_by": {
                "target": served.key,
                "position": targets.index(served),
                **({"credential": served.credential} if served.credential else {}),
            },
            "attempts": [_attempt_record(a) for a in attempts],
        }

    return llm_step
