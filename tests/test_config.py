from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from agentic.config import (
    AdminSettings,
    DatabaseSettings,
    Environment,
    SecuritySettings,
    Settings,
    ToolSettings,
)


def test_embedded_default_is_sqlite_in_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTIC_DATABASE_URL", raising=False)
    monkeypatch.setenv("AGENTIC_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.database_backend == "sqlite"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'agentic.db'}"
    assert settings.redis.url is None


def test_switching_to_postgres_and_redis_is_two_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTIC_DATABASE_URL", "postgresql+asyncpg://app@db.internal/agentic")
    monkeypatch.setenv("AGENTIC_REDIS_URL", "redis://cache.internal:6379/0")
    settings = Settings()
    assert settings.database_backend == "postgresql"
    assert settings.database_url == "postgresql+asyncpg://app@db.internal/agentic"
    assert settings.redis.url == "redis://cache.internal:6379/0"


def test_nested_groups_read_their_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTIC_WORKER_CONCURRENCY", "250")
    monkeypatch.setenv("AGENTIC_LOG_LEVEL", "debug")
    monkeypatch.setenv("AGENTIC_LOG_FORMAT", "json")
    monkeypatch.setenv("AGENTIC_SERVER_PORT", "9001")
    settings = Settings()
    assert settings.worker.concurrency == 250
    assert settings.log.level == "DEBUG"
    assert settings.log.format == "json"
    assert settings.server.port == 9001


def test_sync_driver_is_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTIC_DATABASE_URL", "postgresql://app@db/agentic")
    with pytest.raises(ValidationError, match="async driver"):
        Settings()


def test_production_refuses_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTIC_SECURITY_SECRET_KEY", raising=False)
    monkeypatch.setenv("AGENTIC_ENV", "production")
    with pytest.raises(ValidationError, match="AGENTIC_SECURITY_SECRET_KEY"):
        Settings()


def test_production_refuses_short_secret() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(env=Environment.PRODUCTION, security=SecuritySettings(secret_key=SecretStr("short")))


def test_production_accepts_a_real_secret() -> None:
    settings = Settings(
        env=Environment.PRODUCTION,
        security=SecuritySettings(secret_key=SecretStr("x" * 48)),
        database=DatabaseSettings(url="postgresql+asyncpg://app@db/agentic"),
    )
    assert settings.secret_key() == "x" * 48


def test_dev_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    settings = Settings(env=Environment.DEV, data_dir=tmp_path, security=SecuritySettings(secret_key=None))
    first = settings.secret_key()
    assert len(first) >= 32
    assert settings.secret_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_secret_is_not_in_repr() -> None:
    settings = Settings(security=SecuritySettings(secret_key=SecretStr("super-secret-value-" * 3)))
    assert "super-secret-value" not in repr(settings)


# Both sides of the production check (issue 13): each setting production refuses is accepted in dev and test.
INSECURE: dict[str, object] = {
    "security": SecuritySettings(secret_key=SecretStr("short")),
    "tools": ToolSettings(allow_private_networks=["127.0.0.1/32"]),
    "admin": AdminSettings(email="owner@example.com", password=SecretStr("too-short")),
}


def test_production_refuses_private_networks_for_the_tools() -> None:
    with pytest.raises(ValidationError, match="AGENTIC_TOOLS_ALLOW_PRIVATE_NETWORKS must be empty"):
        Settings(
            env=Environment.PRODUCTION,
            security=SecuritySettings(secret_key=SecretStr("x" * 48)),
            tools=ToolSettings(allow_private_networks=["10.0.0.0/8"]),
        )


def test_production_refuses_a_short_admin_password() -> None:
    with pytest.raises(ValidationError, match="AGENTIC_ADMIN_PASSWORD must be at least 12 characters"):
        Settings(
            env=Environment.PRODUCTION,
            security=SecuritySettings(secret_key=SecretStr("x" * 48)),
            admin=AdminSettings(email="owner@example.com", password=SecretStr("eleven-char")),
        )


def test_production_names_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate({"env": Environment.PRODUCTION, **INSECURE})
    message = str(refused.value)
    assert "refusing to start in production" in message
    for variable in (
        "AGENTIC_SECURITY_SECRET_KEY",
        "AGENTIC_TOOLS_ALLOW_PRIVATE_NETWORKS",
        "AGENTIC_ADMIN_PASSWORD",
    ):
        assert variable in message


@pytest.mark.parametrize("env", [Environment.DEV, Environment.TEST])
def test_dev_and_test_accept_what_production_refuses(env: Environment) -> None:
    settings = Settings.model_validate({"env": env, **INSECURE})
    assert settings.secret_key() == "short"
    assert settings.tools.allow_private_networks == ["127.0.0.1/32"]


@pytest.mark.parametrize("env", [Environment.DEV, Environment.TEST])
def test_a_secret_is_generated_into_the_data_dir_outside_production(tmp_path: Path, env: Environment) -> None:
    settings = Settings(env=env, data_dir=tmp_path / "data", security=SecuritySettings(secret_key=None))
    generated = settings.secret_key()
    assert (tmp_path / "data" / "secret_key").read_text(encoding="utf-8") == generated
    # Another process on the same data directory (a worker, the next start) finds the same key.
    again = Settings(env=env, data_dir=tmp_path / "data", security=SecuritySettings(secret_key=None))
    assert again.secret_key() == generated


@pytest.mark.parametrize("env", [Environment.DEV, Environment.TEST])
def test_an_empty_secret_key_variable_is_unset_outside_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: Environment
) -> None:
    monkeypatch.setenv("AGENTIC_SECURITY_SECRET_KEY", "")
    settings = Settings(env=env, data_dir=tmp_path / "data")
    assert len(settings.secret_key()) >= 32
