"""The `agentic` command line, run as real processes against both backends."""

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agentic import __version__, cli
from agentic.config import Settings
from agentic.db import migrate
from agentic.db.engine import create_engine, create_session_factory
from agentic.db.models import Agent, AgentVersion, Membership, Organization, Role, User
from agentic.services.setup import check_setup_token, create_first_admin
from tests.support.processes import agentic_env, run_cli, start_cli
from tests.support.services import free_port


def test_version(tmp_path: Path) -> None:
    result = run_cli("version", env=agentic_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout.strip() == f"agentic {__version__}"


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run_cli("--help", env=agentic_env(tmp_path))
    assert result.returncode == 0
    for command in ("serve", "worker", "db", "seed", "setup-link", "version"):
        assert command in result.stdout


@pytest.mark.usefixtures("backend")
def test_db_upgrade_current_downgrade(tmp_path: Path, empty_database_url: str) -> None:
    env = agentic_env(tmp_path, empty_database_url)

    up = run_cli("db", "upgrade", env=env)
    assert up.returncode == 0, up.stderr
    head = migrate.head_revision()
    assert f"Applying revision {head}" in up.stderr
    assert f"Database migrated to {head}" in up.stderr

    current = run_cli("db", "current", env=env)
    assert f"current: {head}" in current.stdout
    assert "up to date" in current.stdout

    again = run_cli("db", "upgrade", env=env)
    assert "up to date" in again.stderr

    down = run_cli("db", "downgrade", "base", "--yes", env=env)
    assert down.returncode == 0, down.stderr
    assert "revision None" in down.stderr
    assert "needs `agentic db upgrade`" in run_cli("db", "current", env=env).stdout


@pytest.mark.usefixtures("backend")
def test_downgrade_asks_for_confirmation(tmp_path: Path, database_url: str) -> None:
    result = run_cli("db", "downgrade", "base", env=agentic_env(tmp_path, database_url))
    assert result.returncode != 0
    assert "Aborted" in result.stderr or "Aborted" in result.stdout


@pytest.mark.usefixtures("backend")
async def test_seed_demo_is_idempotent(tmp_path: Path, database_url: str) -> None:
    env = agentic_env(tmp_path, database_url)
    first = run_cli("seed", "--demo", env=env)
    assert first.returncode == 0, first.stderr
    assert "admin@demo.example.com" in first.stderr
    second = run_cli("seed", "--demo", env=env)
    assert second.returncode == 0, second.stderr
    assert "already present" in second.stderr

    engine = create_engine(Settings(), url=database_url)
    try:
        async with create_session_factory(engine)() as session:
            assert await _count(session, Organization) == 1
            assert await _count(session, User) == 3
            assert await _count(session, Agent) == 3
            assert await _count(session, AgentVersion) == 3
            roles = set((await session.scalars(select(Membership.role))).all())
            assert roles == {Role.ADMIN, Role.OPERATOR, Role.USER}
            hashes = (await session.scalars(select(User.password_hash))).all()
            assert all(h and h.startswith("$argon2id$") for h in hashes)
    finally:
        await engine.dispose()


async def _count(session: AsyncSession, model: type[object]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.usefixtures("backend")
def test_seed_needs_a_migrated_database(tmp_path: Path, empty_database_url: str) -> None:
    result = run_cli("seed", "--demo", env=agentic_env(tmp_path, empty_database_url))
    assert result.returncode == 2
    assert "agentic db upgrade" in result.stderr


@pytest.mark.usefixtures("backend")
async def test_setup_link_is_printed_again_until_the_first_account(tmp_path: Path, database_url: str) -> None:
    secret = "setup-link-test-secret-" + "s" * 20
    env = agentic_env(
        tmp_path,
        database_url,
        AGENTIC_SECURITY_SECRET_KEY=secret,
        AGENTIC_SERVER_PUBLIC_URL="https://agents.example.com/",
    )
    first = run_cli("setup-link", env=env)
    assert first.returncode == 0, first.stderr
    prefix = "https://agents.example.com/setup?token="
    assert first.stdout.startswith(prefix)
    # The token the server accepts.
    check_setup_token(secret_key=secret, token=first.stdout.strip().removeprefix(prefix))

    engine = create_engine(Settings(), url=database_url)
    try:
        async with create_session_factory(engine)() as session:
            await create_first_admin(
                session, email="root@example.com", password="a long enough password", organization_name="Org"
            )
    finally:
        await engine.dispose()
    after = run_cli("setup-link", env=env)
    assert after.returncode == 1
    assert after.stdout == ""
    assert "Already set up" in after.stderr


@pytest.mark.usefixtures("backend")
def test_setup_link_needs_a_migrated_database(tmp_path: Path, empty_database_url: str) -> None:
    result = run_cli("setup-link", env=agentic_env(tmp_path, empty_database_url))
    assert result.returncode == 2
    assert "agentic db upgrade" in result.stderr


def test_seed_refuses_production(tmp_path: Path) -> None:
    env = agentic_env(tmp_path, AGENTIC_ENV="production", AGENTIC_SECURITY_SECRET_KEY="k" * 40)
    result = run_cli("seed", "--demo", env=env)
    assert result.returncode == 2
    assert "production" in result.stderr


def test_invalid_settings_are_reported_without_a_trace(tmp_path: Path) -> None:
    env = agentic_env(tmp_path, "postgresql://sync-driver@localhost/x")
    result = run_cli("db", "current", env=env)
    assert result.returncode == 2
    assert "Invalid settings" in result.stderr
    assert "async driver" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_to_serve_with_default_secret(tmp_path: Path) -> None:
    result = run_cli("serve", env=agentic_env(tmp_path, AGENTIC_ENV="production"))
    assert result.returncode == 2
    assert "AGENTIC_SECURITY_SECRET_KEY" in result.stderr


def test_mail_list_shows_outbox_links(tmp_path: Path) -> None:
    import asyncio

    from agentic.mail import EmailMessage, OutboxMailer

    outbox = OutboxMailer(tmp_path / "outbox")
    asyncio.run(
        outbox.send(
            EmailMessage(
                to="ada@example.com",
                subject="Verify your email address for Agentic",
                text="Open http://127.0.0.1:8000/verify-email?token=abc123 to verify.",
            )
        )
    )
    env = agentic_env(tmp_path)
    listed = run_cli("mail", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "to ada@example.com" in listed.stdout
    assert "http://127.0.0.1:8000/verify-email?token=abc123" in listed.stdout
    assert "The outbox is empty." in run_cli("mail", "list", "--to", "nobody@example.com", env=env).stdout


@pytest.mark.usefixtures("backend")
async def test_demo_users_can_sign_in(tmp_path: Path, database_url: str) -> None:
    from tests.conftest import asgi_client, make_settings

    env = agentic_env(tmp_path, database_url)
    assert run_cli("seed", "--demo", env=env).returncode == 0
    from asgi_lifespan import LifespanManager

    from agentic.api.app import create_app

    app = create_app(make_settings(tmp_path, database_url), run_workers=False)
    async with LifespanManager(app), asgi_client(app) as client:
        response = await client.post(
            "/v1/auth/login", json={"email": "admin@demo.example.com", "password": "agentic-demo-password"}
        )
    assert response.status_code == 200, response.text


@pytest.mark.slow
def test_setup_link_leads_to_the_port_the_server_runs_on(tmp_path: Path) -> None:
    # `serve --port N` (as `make run PORT=N` runs it) on a fresh data directory; `setup-link`, run later from
    # another shell without the port, must print that server's address, not the default 8000.
    port = free_port()
    env = agentic_env(tmp_path / "data", AGENTIC_SECURITY_SECRET_KEY="setup-link-port-secret-" + "p" * 20)
    log = tmp_path / "serve.log"
    proc = start_cli("serve", "--port", str(port), env=env, log_path=log)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "data" / "server.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.2)
        link = run_cli("setup-link", env=env)
        assert link.returncode == 0, link.stderr
        assert link.stdout.startswith(f"http://127.0.0.1:{port}/setup?token="), link.stdout
        # The link the server itself printed on first start is the same.
        assert link.stdout.strip() in log.read_text()
        # Explicit choices win: a proxy's public URL, or another host and port.
        public = run_cli("setup-link", env=env | {"AGENTIC_SERVER_PUBLIC_URL": "https://agents.example.com"})
        assert public.stdout.startswith("https://agents.example.com/setup?token="), public.stdout
        assert run_cli("setup-link", "--port", "9001", env=env).stdout.startswith(
            "http://127.0.0.1:9001/setup?"
        )
        assert run_cli("setup-link", "--url", "https://a.example/", env=env).stdout.startswith(
            "https://a.example/setup?"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    # Once it stopped, its address is forgotten: the configured one (AGENTIC_SERVER_HOST/PORT) again.
    assert not (tmp_path / "data" / "server.json").exists()
    assert run_cli("setup-link", env=env).stdout.startswith("http://127.0.0.1:8000/setup?token=")


@pytest.mark.parametrize("uvloop_installed", [True, False])
def test_the_worker_runs_on_uvloop_when_installed_and_on_asyncio_otherwise(
    uvloop_installed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both sides of the event-loop branch of `agentic worker`."""
    if not uvloop_installed:
        monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    seen: list[str] = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__.split(".")[0])

    cli._run_on_fastest_loop(main())
    assert seen == (["uvloop"] if uvloop_installed else ["asyncio"])
