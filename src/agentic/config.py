"""Settings, read from `AGENTIC_*` environment variables (and an optional `.env` file).

Each group is its own settings class with its own prefix, so the variables stay flat and obvious:
`AGENTIC_DATABASE_URL`, `AGENTIC_REDIS_URL`, `AGENTIC_WORKER_CONCURRENCY`, `AGENTIC_LOG_FORMAT`, …
Switching from the embedded default (SQLite, in-process workers) to scale-out is only a matter of setting
`AGENTIC_DATABASE_URL=postgresql+asyncpg://…` and `AGENTIC_REDIS_URL=redis://…`.
"""

from __future__ import annotations

import enum
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_ENV_FILE = ".env"


def _group(prefix: str) -> SettingsConfigDict:
    # `extra="ignore"`: every group reads the same environment and `.env` file, full of the others' variables.
    return SettingsConfigDict(
        env_prefix=prefix, env_file=_ENV_FILE, env_file_encoding="utf-8", extra="ignore"
    )


MIN_SECRET_LENGTH = 32


class Environment(enum.StrEnum):
    """Where the platform runs; `production` refuses insecure defaults."""

    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class DatabaseSettings(BaseSettings):
    """`AGENTIC_DATABASE_*`: the source of truth for all state."""

    model_config = _group("AGENTIC_DATABASE_")

    url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL. Default: a SQLite file in the data directory.",
    )
    pool_size: Annotated[int, Field(ge=1, le=1000)] = 10
    max_overflow: Annotated[int, Field(ge=0, le=1000)] = 20
    pool_timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0
    statement_timeout_ms: Annotated[int, Field(ge=0)] = 30_000
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _supported_driver(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "use an async driver: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
            )
        return value


class RedisSettings(BaseSettings):
    """`AGENTIC_REDIS_*`: optional; carries signals only (wake-ups, cancels, live streams, rate limits)."""

    model_config = _group("AGENTIC_REDIS_")

    url: str | None = None
    connect_timeout_s: Annotated[float, Field(gt=0, le=60)] = 2.0

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://, rediss:// or unix:// URL")
        return value


class ServerSettings(BaseSettings):
    """`AGENTIC_SERVER_*`: the HTTP API."""

    model_config = _group("AGENTIC_SERVER_")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    public_url: str | None = Field(default=None, description="Base URL users reach; used in printed links.")
    max_body_bytes: Annotated[int, Field(ge=1024)] = 2 * 1024 * 1024
    ui_enabled: bool = True
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token `/metrics` asks for. Production: required to scrape (without one "
        "`/metrics` answers 403); elsewhere, when set.",
    )


class WorkerSettings(BaseSettings):
    """`AGENTIC_WORKER_*`: task workers."""

    model_config = _group("AGENTIC_WORKER_")

    # Tasks mostly wait on LLMs and tools, and an in-flight task costs a coroutine, not a thread: a worker
    # process holds a thousand at once (bench/engine.py measures 5,000 under 1 GiB).
    concurrency: Annotated[int, Field(ge=1, le=100_000)] = 1000
    in_process: bool = Field(default=True, description="Run workers inside `agentic serve`.")
    poll_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    shutdown_grace_s: Annotated[float, Field(ge=0, le=3600)] = 30.0
    lease_s: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30.0, description="How long a claimed task stays ours without a heartbeat."
    )
    reap_interval_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    idempotency_window_s: Annotated[int, Field(ge=60)] = Field(
        default=86_400, description="How long an Idempotency-Key of task creation is remembered."
    )


class LogSettings(BaseSettings):
    """`AGENTIC_LOG_*`: structured logging."""

    model_config = _group("AGENTIC_LOG_")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "console"] = Field(
        default="auto", description="`auto`: console in dev on a terminal, JSON otherwise."
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class SecuritySettings(BaseSettings):
    """`AGENTIC_SECURITY_*`: secrets. Outside dev/test they must be set explicitly."""

    model_config = _group("AGENTIC_SECURITY_")

    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs tokens and derives encryption keys. Dev: generated once per data directory.",
    )


class SmtpSettings(BaseSettings):
    """`AGENTIC_SMTP_*`: outgoing mail. Without a host, mail goes to the outbox in the data directory."""

    model_config = _group("AGENTIC_SMTP_")

    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    username: str | None = None
    password: SecretStr | None = None
    tls: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="`starttls` (port 587), `tls` (implicit, port 465) or `none`."
    )
    sender: str = Field(default="Agentic <no-reply@agentic.local>", description="The From: header.")
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    allow_outbox_in_production: bool = Field(
        default=False,
        description="Production without a host: keep messages (with their live links) in the local outbox "
        "instead of refusing to send them.",
    )


class AuthSettings(BaseSettings):
    """`AGENTIC_AUTH_*`: sessions, tokens, API keys and throttling."""

    model_config = _group("AGENTIC_AUTH_")

    access_token_ttl_s: Annotated[int, Field(ge=60, le=86_400)] = 900
    refresh_token_ttl_s: Annotated[int, Field(ge=300)] = 14 * 86_400
    session_max_age_s: Annotated[int, Field(ge=300)] = 90 * 86_400
    email_verification_ttl_s: Annotated[int, Field(ge=300)] = 2 * 86_400
    password_reset_ttl_s: Annotated[int, Field(ge=300, le=86_400)] = 3600
    invitation_ttl_s: Annotated[int, Field(ge=3600)] = 7 * 86_400
    api_key_rotation_grace_s: Annotated[int, Field(ge=0, le=30 * 86_400)] = 86_400
    allow_signup: bool = Field(default=True, description="Self-service signup; off: invitation only.")
    require_verified_email: bool = True
    login_attempts_per_account: Annotated[int, Field(ge=1)] = Field(
        default=5,
        description="Failed sign-ins to one account from one client address per window; more get a "
        "growing delay (twice as many per four windows, four times as many per day). Another client is not "
        "held back, so nobody can lock an account's owner out.",
    )
    login_attempts_per_ip: Annotated[int, Field(ge=1)] = 50
    reset_requests_per_account: Annotated[int, Field(ge=1)] = 3
    throttle_window_s: Annotated[int, Field(ge=1)] = 900


class ToolSettings(BaseSettings):
    """`AGENTIC_TOOLS_*`: the built-in tools agents call."""

    model_config = _group("AGENTIC_TOOLS_")

    python_wall_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    python_cpu_s: Annotated[int, Field(ge=1, le=600)] = 5
    python_memory_mib: Annotated[int, Field(ge=32, le=16384)] = 256
    http_timeout_s: Annotated[float, Field(gt=0, le=300)] = 30.0
    http_max_response_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 2 * 1024 * 1024
    http_allowed_ports: list[int] = Field(default_factory=lambda: [80, 443, 8080, 8443])
    max_output_chars: Annotated[int, Field(ge=256, le=1_000_000)] = 20_000
    max_input_files: Annotated[int, Field(ge=0, le=1000)] = 20
    # Sent base64-encoded inside the JSON body, so AGENTIC_SERVER_MAX_BODY_BYTES (2 MiB by default) must
    # exceed about 4/3 of this: the default leaves room for the rest of the request.
    max_input_bytes: Annotated[int, Field(ge=0, le=1024 * 1024 * 1024)] = Field(
        default=1_400_000, description="Total size of the files given with one task."
    )
    allow_private_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs the HTTP tools may reach despite the SSRF guard (tests). Refused in production.",
    )


class WebhookSettings(BaseSettings):
    """`AGENTIC_WEBHOOKS_*`: delivery of agents' webhooks."""

    model_config = _group("AGENTIC_WEBHOOKS_")

    # The Standard Webhooks schedule: after the first attempt, retries 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and
    # 10 h later; a message that still fails is marked failed (redeliverable by hand).
    retry_schedule_s: list[Annotated[float, Field(ge=0, le=7 * 24 * 3600)]] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0], max_length=20
    )
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 15.0
    concurrency: Annotated[int, Field(ge=1, le=1000)] = 16
    poll_interval_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    allowed_ports: list[int] = Field(
        default_factory=lambda: [80, 443, 8080, 8443],
        description="Ports webhook URLs may use (any port on loopback in dev and test).",
    )


SearchProviderName = Literal["searxng", "brave", "tavily"]
# One request's worth. Tavily's help centre: a call aggregates "up to 20 websites"; SearXNG returns about 20
# per page; Brave caps `count` (its suggest endpoint documents "maximum is 20", and we assume web search's cap
# is no higher). Asking for more would silently return fewer anyway.
SEARCH_MAX_RESULTS = 20


def check_base_url(value: str) -> str:
    """An operator-configured service root URL: http(s), no credentials, no query; without a final slash."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL, e.g. http://searxng:8080")
    # Credentials in the URL would end up wherever URLs are printed; the key has a field of its own.
    if parts.username is not None or parts.password is not None:
        raise ValueError("put credentials in AGENTIC_SEARCH_API_KEY, not in the URL")
    if parts.query or parts.fragment:
        raise ValueError("expected a base URL without a query string or fragment")
    return value.rstrip("/")


class SearchSettings(BaseSettings):
    """`AGENTIC_SEARCH_*`: the web search backend of the `web_search` tool. Unset: the tool is unavailable."""

    # `hide_input_in_errors`: a model-level error otherwise prints every input, the API key included, into
    # the start-up failure (`input_value={..., 'api_key': '…'}`).
    model_config = SettingsConfigDict(**_group("AGENTIC_SEARCH_"), hide_input_in_errors=True)

    provider: SearchProviderName | None = Field(
        default=None, description="`searxng` (self-hosted), `brave` or `tavily`; unset disables web search."
    )
    base_url: str | None = Field(
        default=None,
        description="SearXNG: the instance's root URL (required). Brave/Tavily: overrides the public API.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="Brave/Tavily: the API key (required). SearXNG: optional Bearer token for a proxy.",
    )
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 15.0
    max_results: Annotated[int, Field(ge=1, le=SEARCH_MAX_RESULTS)] = Field(
        default=10, description="Most results one call returns, whatever the agent asks for."
    )

    @field_validator("provider", mode="before")
    @classmethod
    def _provider_name(cls, value: object) -> object:
        # An empty variable means "unset", as with the other optional URLs; case is forgiven.
        if isinstance(value, str):
            value = value.strip().lower()
            return value or None
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        return check_base_url(value.strip())

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value().strip() == "":
            return None
        return SecretStr(value.get_secret_value().strip())

    @model_validator(mode="after")
    def _provider_needs(self) -> SearchSettings:
        if self.provider in ("brave", "tavily") and self.api_key is None:
            raise ValueError(
                f"AGENTIC_SEARCH_PROVIDER={self.provider} needs AGENTIC_SEARCH_API_KEY (the {self.provider} "
                "API key)"
            )
        if self.provider == "searxng" and self.base_url is None:
            raise ValueError(
                "AGENTIC_SEARCH_PROVIDER=searxng needs AGENTIC_SEARCH_BASE_URL (the instance's root URL, "
                "e.g. http://searxng:8080, with `json` enabled under search.formats in its settings.yml)"
            )
        return self


class SqlToolSettings(BaseSettings):
    """`AGENTIC_SQL_*`: the `sql_query` tool over organisations' registered databases."""

    model_config = _group("AGENTIC_SQL_")

    statement_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    max_rows: Annotated[int, Field(ge=1, le=100_000)] = 1000
    max_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1_000_000
    sqlite_dirs: list[Path] = Field(
        default_factory=list,
        description="Directories SQLite connections may point into; empty: SQLite connections are refused.",
    )
    allow_private_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs (e.g. 10.0.0.0/8) PostgreSQL connections may reach besides public addresses; "
        "loopback is allowed only outside production.",
    )


class McpSettings(BaseSettings):
    """`AGENTIC_MCP_*`: MCP servers organisations register for their agents."""

    model_config = _group("AGENTIC_MCP_")

    stdio_commands: list[str] = Field(
        default_factory=list,
        description="Executables a stdio MCP server may run (e.g. `mcp-server-time`, `npx`). A stdio "
        "server runs on the worker's host, so only the operator may allow commands; empty: none may run.",
    )
    call_timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    discovery_timeout_s: Annotated[float, Field(gt=0, le=300)] = 30.0
    allowed_ports: list[int] = Field(
        default_factory=lambda: [80, 443, 8080, 8443],
        description="Ports streamable-HTTP servers may use (any port on loopback outside production).",
    )


class LLMSettings(BaseSettings):
    """`AGENTIC_LLM_*`: the LLM gateway. Without provider keys, agents use the deterministic mock provider."""

    model_config = _group("AGENTIC_LLM_")

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = Field(default=None, description="OpenAI-compatible server (vLLM, Ollama…).")
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    timeout_s: Annotated[float, Field(gt=0, le=3600)] = 120.0
    max_retries: Annotated[int, Field(ge=0, le=20)] = 3
    backoff_base_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    backoff_max_s: Annotated[float, Field(gt=0, le=600)] = 20.0
    breaker_failure_threshold: Annotated[int, Field(ge=1, le=1000)] = 5
    breaker_recovery_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    concurrency_per_key: Annotated[int, Field(ge=1, le=100_000)] = 256
    requests_per_minute_per_key: Annotated[int | None, Field(ge=1)] = None
    tokens_per_minute_per_key: Annotated[int | None, Field(ge=1)] = None
    max_connections: Annotated[int, Field(ge=1, le=100_000)] = 1000
    allow_internal_base_urls: bool = Field(
        default=False, description="Let organisations point providers at private addresses in production."
    )
    prices: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="USD per million tokens by 'provider/model': {'input', 'output', 'cached_input'}.",
    )


class AdminSettings(BaseSettings):
    """`AGENTIC_ADMIN_*`: the first administrator, created on first start of an empty database."""

    model_config = _group("AGENTIC_ADMIN_")

    email: str | None = None
    password: SecretStr | None = None
    organization_name: str = "Default"


class Settings(BaseSettings):
    """All settings. Build with `Settings()` to read the environment, or pass groups explicitly in tests."""

    model_config = _group("AGENTIC_")

    env: Environment = Environment.DEV
    data_dir: Path = Path(".agentic")

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    sql: SqlToolSettings = Field(default_factory=SqlToolSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)

    @model_validator(mode="after")
    def _refuse_insecure_defaults(self) -> Settings:
        if self.env is not Environment.PRODUCTION:
            return self
        problems: list[str] = []
        key = self.security.secret_key.get_secret_value() if self.security.secret_key else ""
        if len(key) < MIN_SECRET_LENGTH:
            problems.append(
                f"AGENTIC_SECURITY_SECRET_KEY must be set to a random value of at least "
                f"{MIN_SECRET_LENGTH} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        if self.tools.allow_private_networks:
            problems.append(
                "AGENTIC_TOOLS_ALLOW_PRIVATE_NETWORKS must be empty: the SSRF guard cannot be relaxed"
            )
        if self.admin.password is not None and len(self.admin.password.get_secret_value()) < 12:
            problems.append("AGENTIC_ADMIN_PASSWORD must be at least 12 characters")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def database_url(self) -> str:
        """The effective database URL (the SQLite file in the data directory unless one is configured)."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'agentic.db').resolve()}"

    @property
    def database_backend(self) -> Literal["sqlite", "postgresql"]:
        """Which database family the URL points at."""
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"

    @property
    def public_url(self) -> str:
        """Base URL for links printed to the user."""
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        return f"http://{self.server.host}:{self.server.port}"

    def secret_key(self) -> str:
        """The secret key; in dev/test a random one is generated once and kept in the data directory.

        Production never reaches the generated branch: the validator above refuses to start without a key.
        """
        # An empty variable (`AGENTIC_SECURITY_SECRET_KEY=`) means unset, as for every other setting: never
        # derive setup tokens and encryption keys from a value everyone knows.
        if self.security.secret_key is not None and self.security.secret_key.get_secret_value():
            return self.security.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        # Create with 0600 so other local users cannot read it.
        path.touch(mode=0o600, exist_ok=False)
        path.write_text(value, encoding="utf-8")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
