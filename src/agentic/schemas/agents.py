"""Agents and their immutable versions.

An agent body is flat: `name`, `description`, `visibility` and the configuration fields (`model`,
`system_prompt`, `prompt_template`, `input_schema`, `tools`, `policies`). Everything but `visibility` is
snapshotted into an immutable version's `config`, which is what the task engine reads.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from agentic.db.models import AgentVisibility, Role
from agentic.llm.providers.mock import MODELS as MOCK_MODELS
from agentic.prompts import MAX_TEMPLATE_CHARS
from agentic.schemas.common import MAX_DB_INT, Schema

# The providers the LLM gateway resolves (`LLMGateway._model`); anything else fails every run.
ModelProvider = Literal["mock", "openai", "anthropic"]

AgentName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
ToolName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
ErrorClass = Annotated[str, StringConstraints(min_length=1, max_length=64)]

EXPORT_KIND = "agentic.agent"
EXPORT_FORMAT_VERSION = 1


# OpenAI sampling options the Messages API has no counterpart for: refused on an `anthropic` entry when the
# agent is saved, rather than failing every run with the provider's 400.
_OPENAI_ONLY_OPTIONS = (
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "n",
)

StopSequence = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ModelOptions(BaseModel):
    """Request parameters for the model, sent with every call of this entry.

    The common ones are checked and named the OpenAI way; the Anthropic adapter translates them (`stop` →
    `stop_sequences`). Any other option is passed through unchanged as a field of the request body (a
    compatible server's own parameters, such as `min_p`), and `extra_body` adds raw fields.
    """

    model_config = ConfigDict(extra="allow")

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(
        default=None, ge=1, description="Anthropic, and most OpenAI-compatible servers."
    )
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stop: StopSequence | list[StopSequence] | None = Field(
        default=None, description="Stop sequence(s); `stop_sequences` for Anthropic."
    )
    presence_penalty: float | None = Field(default=None, ge=-2, le=2, description="OpenAI only.")
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2, description="OpenAI only.")
    seed: int | None = Field(default=None, description="OpenAI only.")

    @field_validator("stop")
    @classmethod
    def _few_stop_sequences(cls, stop: str | list[str] | None) -> str | list[str] | None:
        if isinstance(stop, list) and not 1 <= len(stop) <= 16:
            raise ValueError("give between 1 and 16 stop sequences")
        return stop


CredentialName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ModelTarget(Schema):
    """One model: provider, model name, options, and optionally which stored credential reaches it."""

    provider: ModelProvider
    name: str = Field(min_length=1, max_length=200, description="The provider's model name, e.g. `gpt-4o`.")
    options: ModelOptions = Field(default_factory=ModelOptions)
    credential: CredentialName | None = Field(
        default=None,
        description="Name of one of the organisation's credentials for this provider (its key and base URL), "
        "e.g. to chain two OpenAI-compatible servers. Default: the credential named `default`, else the "
        "server's key.",
    )

    @field_validator("name")
    @classmethod
    def _known_mock_model(cls, name: str, info: ValidationInfo) -> str:
        # The mock provider's models are a fixed set: catch a typo now rather than at the first run.
        if info.data.get("provider") == "mock" and name not in MOCK_MODELS:
            raise ValueError(f"the mock provider has the models {', '.join(MOCK_MODELS)}")
        return name

    @field_validator("options")
    @classmethod
    def _options_the_provider_has(cls, options: ModelOptions, info: ValidationInfo) -> ModelOptions:
        if info.data.get("provider") == "anthropic":
            given = options.model_dump(exclude_unset=True)
            if unknown := [name for name in _OPENAI_ONLY_OPTIONS if name in given]:
                raise ValueError(f"the Anthropic Messages API has no {', '.join(unknown)}")
        return options

    @field_validator("credential")
    @classmethod
    def _credential_needs_a_keyed_provider(cls, credential: str | None, info: ValidationInfo) -> str | None:
        if credential is not None and info.data.get("provider") == "mock":
            raise ValueError("the mock provider takes no credential")
        return credential

    def to_config(self) -> dict[str, Any]:
        """The stored form."""
        config: dict[str, Any] = {
            "provider": self.provider,
            "name": self.name,
            # Only what the caller set: unset typed options must not reach the provider as nulls.
            "options": self.options.model_dump(mode="json", exclude_unset=True),
        }
        if self.credential is not None:  # absent, not null: versions saved before stay equal
            config["credential"] = self.credential
        return config


class ModelSpec(ModelTarget):
    """The model and the fallback chain tried, in order, when it fails with a retryable error."""

    fallbacks: list[ModelTarget] = Field(default_factory=list, max_length=5)

    def to_config(self) -> dict[str, Any]:
        """The stored form (`{"provider", "name", "options", "fallbacks"}`)."""
        return {**super().to_config(), "fallbacks": [f.to_config() for f in self.fallbacks]}


class ApprovalRule(Schema):
    """Calls whose arguments match every pattern here wait for an approval."""

    arguments: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=128)],
        Annotated[str, StringConstraints(min_length=1, max_length=1000)],
    ] = Field(
        min_length=1,
        max_length=20,
        description="Argument name → shell-style pattern (`*`, `?`, `[…]`), e.g. "
        '`{"method": "DELETE"}` or `{"url": "https://api.example.com/*"}`. Non-string values are matched '
        "as JSON.",
    )


class ToolSpec(Schema):
    """A tool the agent may call, its configuration, and whether each call waits for an approval."""

    name: ToolName
    config: dict[str, Any] = Field(default_factory=dict)
    needs_approval: bool = Field(default=False, description="Every call of this tool waits for an approval.")
    approval_rules: list[ApprovalRule] = Field(
        default_factory=list,
        max_length=50,
        description="Calls matching any rule wait for an approval (when `needs_approval` is false).",
    )
    min_role: Role | None = Field(
        default=None,
        description="Lowest role (user < operator < admin) of the task's creator for which the tool is "
        "offered; tasks of others run without it.",
    )


class Policies(Schema):
    """Run policies. Unset ones take the engine's defaults (3 attempts, no timeout, no concurrency cap)."""

    max_concurrent_runs: int | None = Field(default=None, ge=1, le=10_000)
    runs_per_minute: int | None = Field(
        default=None, ge=1, le=100_000, description="Rate limit on new runs of the agent (429 past it)."
    )
    on_limit: Literal["enqueue", "reject"] | None = Field(
        default=None, description="At `max_concurrent_runs`: queue new runs (default) or refuse them (429)."
    )
    timeout_s: int | None = Field(default=None, ge=1, le=7 * 24 * 3600, description="Whole-task timeout.")
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    backoff_base_s: float | None = Field(default=None, gt=0, le=3600)
    backoff_max_s: float | None = Field(default=None, gt=0, le=24 * 3600)
    retryable_errors: list[ErrorClass] | None = Field(
        default=None, max_length=50, description="Error classes to retry (replaces the default)."
    )
    non_retryable_errors: list[ErrorClass] | None = Field(
        default=None, max_length=50, description="Error classes never retried."
    )
    max_steps: int | None = Field(default=None, ge=1, le=1000, description="For the agent loop.")
    max_tokens_per_run: int | None = Field(default=None, ge=1, description="For the agent loop.")
    max_cost_per_run_usd: float | None = Field(
        default=None,
        gt=0,
        description="For the agent loop: stop (`budget_exceeded`) once LLM cost passes it.",
    )
    tool_allowlist: list[ToolName] | None = Field(
        default=None,
        max_length=128,
        description="Only these of the agent's tools may be called (all if unset).",
    )
    approval_timeout_s: int | None = Field(
        default=None,
        ge=1,
        le=30 * 24 * 3600,
        description="How long an approval request waits before the default (deny) applies; default 24 h.",
    )

    @field_validator("backoff_max_s")
    @classmethod
    def _max_not_below_base(cls, value: float | None, info: ValidationInfo) -> float | None:
        base = info.data.get("backoff_base_s")
        if value is not None and base is not None and value < base:
            raise ValueError("must not be below backoff_base_s")
        return value

    def to_config(self) -> dict[str, Any]:
        """The stored form: unset policies are left out, so the engine's defaults apply."""
        return self.model_dump(mode="json", exclude_none=True)


_SYSTEM_PROMPT = Field(
    default="",
    max_length=MAX_TEMPLATE_CHARS,
    description="A Jinja2 template (sandboxed) over the variables of `input_schema`; plain text works as is.",
)
_PROMPT_TEMPLATE = Field(
    default=None,
    max_length=MAX_TEMPLATE_CHARS,
    description="Jinja2 template (sandboxed) rendered into the first user message; without it the message "
    "is `input.message`, or the input as JSON.",
)
_INPUT_SCHEMA = Field(
    default=None,
    description='JSON Schema (draft 2020-12) of the task input, `{"type": "object", "properties": {…}}`; '
    "its properties are the template variables.",
)


class AgentCreate(Schema):
    """Body of `POST /v1/agents`."""

    name: AgentName
    description: Description = ""
    visibility: AgentVisibility = AgentVisibility.ORG
    model: ModelSpec
    system_prompt: str = _SYSTEM_PROMPT
    prompt_template: str | None = _PROMPT_TEMPLATE
    input_schema: dict[str, Any] | None = _INPUT_SCHEMA
    tools: list[ToolSpec] = Field(default_factory=list, max_length=128)
    policies: Policies = Field(default_factory=Policies)

    def to_config(self) -> dict[str, Any]:
        """The version snapshot: everything but `visibility`, normalised (defaults written out)."""
        config: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "model": self.model.to_config(),
            "system_prompt": self.system_prompt,
            "tools": [tool.model_dump(mode="json") for tool in self.tools],
            "policies": self.policies.to_config(),
        }
        if self.prompt_template is not None:
            config["prompt_template"] = self.prompt_template
        if self.input_schema is not None:
            config["input_schema"] = self.input_schema
        return config


class AgentImport(AgentCreate):
    """An exported agent (`GET /v1/agents/{id}/export`), as `POST /v1/agents/import` takes it."""

    kind: Literal["agentic.agent"] | None = None
    format_version: Literal[1] | None = None


class AgentUpdate(Schema):
    """Body of `PATCH /v1/agents/{agent_id}`: the fields given replace the current ones (whole values)."""

    name: AgentName | None = None
    description: Description | None = None
    visibility: AgentVisibility | None = None
    model: ModelSpec | None = None
    system_prompt: str | None = Field(default=None, max_length=MAX_TEMPLATE_CHARS)
    prompt_template: str | None = Field(
        default=None, max_length=MAX_TEMPLATE_CHARS, description="`null` removes the template."
    )
    input_schema: dict[str, Any] | None = Field(default=None, description="`null` removes the schema.")
    tools: list[ToolSpec] | None = Field(default=None, max_length=128)
    policies: Policies | None = None

    # Defaults are not validated, so this runs only for an explicit `null`: refused with the field's location,
    # while a field left out stays unchanged.
    @field_validator("name", "description", "visibility", "model", "system_prompt", "tools", "policies")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep its current value")
        return value

    def config_changes(self) -> dict[str, Any]:
        """The configuration fields given, in stored form (`None` for a removed template or schema)."""
        given = self.model_fields_set
        changes: dict[str, Any] = {}
        for key in ("name", "description", "system_prompt", "prompt_template", "input_schema"):
            if key in given:
                changes[key] = getattr(self, key)
        if self.model is not None:
            changes["model"] = self.model.to_config()
        if self.tools is not None:
            changes["tools"] = [tool.model_dump(mode="json") for tool in self.tools]
        if self.policies is not None:
            changes["policies"] = self.policies.to_config()
        return changes


class RollbackIn(Schema):
    """Body of `POST /v1/agents/{agent_id}/rollback`."""

    version: int = Field(
        ge=1, le=MAX_DB_INT, description="The version whose configuration becomes the new latest version."
    )


class CloneIn(Schema):
    """Body of `POST /v1/agents/{agent_id}/clone`."""

    name: AgentName
    visibility: AgentVisibility | None = Field(default=None, description="Default: the source agent's.")
    version: int | None = Field(
        default=None, ge=1, le=MAX_DB_INT, description="Version to copy; default the latest."
    )


class RenderIn(Schema):
    """Body of `POST /v1/agents/{agent_id}/render`."""

    input: dict[str, Any] = Field(
        default_factory=dict, description="Task input, checked against input_schema."
    )
    version: int | None = Field(default=None, ge=1, le=MAX_DB_INT, description="Default: the latest version.")


class RenderDraftIn(Schema):
    """Body of `POST /v1/agents/render`: templates not saved yet, and an input to render them with."""

    system_prompt: str = _SYSTEM_PROMPT
    prompt_template: str | None = _PROMPT_TEMPLATE
    input_schema: dict[str, Any] | None = _INPUT_SCHEMA
    input: dict[str, Any] = Field(
        default_factory=dict, description="Task input, checked against input_schema."
    )


class AgentSummary(BaseModel):
    """An agent in a list."""

    id: uuid.UUID
    name: str
    description: str
    visibility: AgentVisibility
    owner_id: uuid.UUID | None
    latest_version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class AgentOut(AgentSummary):
    """An agent with the configuration of its latest version."""

    version_id: uuid.UUID = Field(description="ID of the latest version: what a task created now pins.")
    model: dict[str, Any]
    system_prompt: str
    prompt_template: str | None
    input_schema: dict[str, Any] | None
    tools: list[dict[str, Any]]
    policies: dict[str, Any]


class AgentPage(BaseModel):
    """A page of agents, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[AgentSummary]
    next_cursor: str | None


class VersionSummary(BaseModel):
    """A version in a list."""

    id: uuid.UUID
    version: int
    created_by_id: uuid.UUID | None
    created_at: dt.datetime


class VersionPage(BaseModel):
    """A page of versions, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[VersionSummary]
    next_cursor: str | None


class VersionOut(VersionSummary):
    """An immutable version and its configuration."""

    agent_id: uuid.UUID
    config: dict[str, Any]


class Change(BaseModel):
    """One difference between two configurations, at a JSON Pointer (RFC 6901) path."""

    path: str = Field(description="JSON Pointer into the configuration, e.g. `/model/options/temperature`.")
    op: Literal["added", "removed", "changed"]
    from_: Any = Field(default=None, serialization_alias="from")
    to: Any = None


class DiffOut(BaseModel):
    """What changed from one version to another."""

    agent_id: uuid.UUID
    from_version: int
    to_version: int
    changes: list[Change]


class RenderedMessage(BaseModel):
    """A message as the model would receive it."""

    role: str
    content: str


class RenderOut(BaseModel):
    """The rendered prompt of a version for an input."""

    agent_id: uuid.UUID
    version: int
    system_prompt: str
    messages: list[RenderedMessage]


class RenderDraftOut(BaseModel):
    """The rendered prompt of a draft."""

    system_prompt: str
    messages: list[RenderedMessage]
