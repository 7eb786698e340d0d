"""The `agentic` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

from agentic import __version__
from agentic.config import Environment, Settings, get_settings
from agentic.logging import configure_logging

if TYPE_CHECKING:
    import socket
    from collections.abc import Coroutine

    import uvicorn

    from agentic.resources import Resources

app = typer.Typer(help="Agentic: build, run and watch LLM agents as durable tasks.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
mail_app = typer.Typer(
    help="The local mail outbox (used when no SMTP server is configured).", no_args_is_help=True
)
app.add_typer(mail_app, name="mail")
console = Console(stderr=True)

DEMO_PASSWORD = "agentic-demo-password"  # noqa: S105  # documented demo credential; refused in production


def _settings() -> Settings:
    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        console.print(f"[red]Invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc
    configure_logging(settings.log, settings.env)
    return settings


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=console,
        transient=False,
    )


async def _upgrade(settings: Settings, revision: str) -> None:
    from agentic.db import migrate
    from agentic.db.engine import create_engine

    engine = create_engine(settings)
    try:
        pending = await migrate.pending_revisions(engine) if revision == "head" else [revision]
        if not pending:
            console.print(f"Database is up to date (revision {await migrate.current_revision(engine)}).")
            return
        with _progress() as progress:
            bar = progress.add_task("Migrating database", total=len(pending))
            for rev in pending:
                progress.update(bar, description=f"Applying revision {rev}")
                await migrate.upgrade(engine, rev)
                progress.advance(bar)
        console.print(f"Database migrated to {await migrate.current_revision(engine)}.")
    finally:
        await engine.dispose()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrate the database up (to the newest revision by default)."""
    asyncio.run(_upgrade(_settings(), revision))


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Migrate the database down. `base` removes every table and all data."""
    from agentic.db import migrate
    from agentic.db.engine import create_engine

    settings = _settings()
    if not yes:
        typer.confirm(
            f"Downgrade {settings.database_backend} database to {revision}? Data may be lost", abort=True
        )

    async def run() -> str | None:
        engine = create_engine(settings)
        try:
            with console.status(f"Downgrading to {revision}…"):
                await migrate.downgrade(engine, revision)
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    console.print(f"Database now at revision {asyncio.run(run())}.")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one this code ships."""
    from agentic.db import migrate
    from agentic.db.engine import create_engine

    settings = _settings()

    async def run() -> str | None:
        engine = create_engine(settings)
        try:
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    current = asyncio.run(run())
    head = migrate.head_revision()
    state = "up to date" if current == head else "needs `agentic db upgrade`"
    typer.echo(f"current: {current}  head: {head}  ({state})")


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("-m", "--message", help="What the change does.")],
) -> None:
    """Autogenerate a migration from the models (developers; review the file before committing)."""
    from agentic.db import migrate
    from agentic.db.engine import create_engine

    settings = _settings()

    async def run() -> None:
        engine = create_engine(settings)
        try:
            await migrate.upgrade(engine)
            async with engine.connect() as conn:
                await conn.run_sync(migrate.autogenerate_revision, message)
        finally:
            await engine.dispose()

    asyncio.run(run())


@mail_app.command("list")
def mail_list(
    to: Annotated[str | None, typer.Option("--to", help="Only mail to this address.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many messages.")] = 20,
    full: Annotated[bool, typer.Option("--full", help="Print whole bodies, not just links.")] = False,
) -> None:
    """Show the newest messages in the outbox, with their links (verification, reset, invitations)."""
    from agentic.mail import extract_links, list_outbox

    settings = _settings()
    if settings.smtp.host:
        console.print(f"Mail is sent through SMTP ({settings.smtp.host}); the outbox is not used.")
    messages = list_outbox(settings.data_dir / "outbox", to=to, limit=limit)
    if not messages:
        typer.echo("The outbox is empty.")
        return
    for message in messages:
        typer.echo(f"{message.created_at:%Y-%m-%d %H:%M:%S}Z  to {message.to}  «{message.subject}»")
        if full:
            typer.echo("    " + message.text.replace("\n", "\n    "))
        else:
            for link in extract_links(message.text):
                typer.echo(f"    {link}")


@app.command()
def seed(
    demo: Annotated[
        bool, typer.Option("--demo", help="Create the demo organisation, users and agents.")
    ] = False,
) -> None:
    """Load seed data into a migrated database."""
    if not demo:
        console.print("Nothing to do: pass --demo.")
        raise typer.Exit(1)
    settings = _settings()
    if settings.env is Environment.PRODUCTION:
        console.print("[red]Refusing to create demo users with a known password in production.[/red]")
        raise typer.Exit(2)

    from agentic.resources import Resources
    from agentic.services.seed import DEMO_AGENTS, DEMO_USERS, seed_demo

    async def run() -> None:
        resources = Resources.open(settings)
        try:
            await _check_schema(resources)
            with _progress() as progress:
                bar = progress.add_task("Seeding demo data", total=1 + len(DEMO_USERS) + len(DEMO_AGENTS))

                def step(item: str) -> None:
                    progress.update(bar, description=f"Created {item}")
                    progress.advance(bar)

                async with resources.sessions() as session:
                    result = await seed_demo(session, password=DEMO_PASSWORD, progress=step)
                if result.already_present:
                    progress.update(
                        bar, description="Demo data already present", completed=progress.tasks[0].total
                    )
        finally:
            await resources.close()

    asyncio.run(run())
    console.print(
        "Demo users (password [bold]"
        + DEMO_PASSWORD
        + "[/bold]): "
        + ", ".join(f"{email} ({role.value})" for email, _name, role in DEMO_USERS)
    )


# Where `agentic serve` records the address it listens on (in its data directory), for `agentic setup-link`.
SERVER_RECORD = "server.json"


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _running_server_url(settings: Settings) -> str | None:
    """The base URL of the `agentic serve` running on this data directory, if one runs (its process lives)."""
    try:
        record = json.loads((settings.data_dir / SERVER_RECORD).read_text(encoding="utf-8"))
        pid, url = int(record["pid"]), str(record["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return None  # a server that stopped without removing its record (killed)
    except PermissionError:
        pass  # alive, another user's
    return url


def _recording_server(config: uvicorn.Config, settings: Settings) -> uvicorn.Server:
    """A uvicorn server that records where it listens in the data directory while it runs."""
    import uvicorn

    record = settings.data_dir / SERVER_RECORD

    class RecordingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.started:
                return
            # The port really bound (`--port 0` picks one); the configured public URL when there is one.
            port = int(self.servers[0].sockets[0].getsockname()[1]) if self.servers else settings.server.port
            url = settings.public_url if settings.server.public_url else _url(settings.server.host, port)
            body = json.dumps({"url": url, "pid": os.getpid(), "host": settings.server.host, "port": port})
            try:
                record.parent.mkdir(parents=True, exist_ok=True)
                partial = record.with_suffix(f".{os.getpid()}.tmp")
                partial.write_text(body, encoding="utf-8")
                partial.replace(record)
            except OSError as exc:  # a read-only data directory: only `setup-link` loses the address
                console.print(f"[yellow]Could not record the server's address in {record}: {exc}[/yellow]")

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            try:
                await super().shutdown(sockets=sockets)
            finally:
                with contextlib.suppress(OSError, ValueError, KeyError):
                    if json.loads(record.read_text(encoding="utf-8"))["pid"] == os.getpid():
                        record.unlink()

    return RecordingServer(config)


@app.command("setup-link")
def setup_link(
    url: Annotated[
        str | None,
        typer.Option(help="The server's base URL as people reach it, e.g. https://agents.example.com."),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="The server's host, when not the running server's.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="The server's port, when not the running server's.")
    ] = None,
) -> None:
    """Print the first-run setup link again while no account exists (e.g. once the logs are gone).

    The link leads to, in order: `--url`; `--host`/`--port`; AGENTIC_SERVER_PUBLIC_URL; the `agentic serve`
    running on this data directory (it records where it listens); AGENTIC_SERVER_HOST/PORT.
    """
    from agentic.resources import Resources
    from agentic.services import setup

    settings = _settings()
    if url:
        base = url.rstrip("/")
    elif host is not None or port is not None:
        base = _url(host or settings.server.host, port or settings.server.port)
    elif settings.server.public_url:
        base = settings.public_url
    else:
        base = _running_server_url(settings) or settings.public_url

    async def run() -> str | None:
        resources = Resources.open(settings)
        try:
            await _check_schema(resources)
            async with resources.sessions() as session:
                if not await setup.needs_setup(session):
                    return None
            return setup.setup_link(public_url=base, secret_key=resources.secret_key)
        finally:
            await resources.close()

    link = asyncio.run(run())
    if link is None:
        console.print("Already set up: an account exists, and the setup link no longer works.")
        raise typer.Exit(1)
    typer.echo(link)


async def _check_schema(resources: Resources) -> None:
    from agentic.db import migrate

    current = await migrate.current_revision(resources.engine)
    if current != resources.expected_revision:
        console.print(f"[red]Database schema is at {current}; run `agentic db upgrade` first.[/red]")
        raise typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default AGENTIC_SERVER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default AGENTIC_SERVER_PORT).")] = None,
    workers: Annotated[
        bool | None, typer.Option("--workers/--no-workers", help="Run task workers in this process.")
    ] = None,
    migrate_first: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Migrate before serving (default: yes on SQLite, no on PostgreSQL).",
        ),
    ] = None,
) -> None:
    """Serve the API, the web UI and (by default) in-process workers."""
    import uvicorn

    from agentic.api.app import create_app

    settings = _settings()
    if host is not None:
        settings.server.host = host
    if port is not None:
        settings.server.port = port
    # On PostgreSQL several replicas may start at once; migrations are an explicit deploy step there.
    if migrate_first if migrate_first is not None else settings.database_backend == "sqlite":
        asyncio.run(_upgrade(settings, "head"))
    config = uvicorn.Config(
        create_app(settings, run_workers=workers),
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,
        lifespan="on",
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=int(settings.worker.shutdown_grace_s) or None,
    )
    console.print(f"Agentic {__version__} serving at [bold]{settings.public_url}[/bold]")
    _recording_server(config, settings).run()


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Tasks in flight at once (default AGENTIC_WORKER_CONCURRENCY).")
    ] = None,
) -> None:
    """Run a standalone worker process (scale-out: as many as you like, on any machine)."""
    from agentic.engine.worker import engine_source
    from agentic.resources import Resources
    from agentic.workers.runtime import WorkerRuntime

    settings = _settings()
    if concurrency is not None:
        settings.worker.concurrency = concurrency

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        resources = Resources.open(settings)
        try:
            await _check_schema(resources)
            resources.start()
            runtime = WorkerRuntime(settings.worker, source=engine_source(resources))
            runtime.start()
            console.print(f"Worker {runtime.worker_id} running (concurrency {settings.worker.concurrency}).")
            await stop.wait()
            console.print("Stopping: finishing running work…")
            await runtime.stop()
        finally:
            await resources.close()

    _run_on_fastest_loop(run())


def _run_on_fastest_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when it is installed (`uvicorn[standard]` brings it), as `agentic serve` does.

    A worker makes one socket write per database round trip and per streamed LLM chunk: on asyncio's own loop
    those writes were a quarter of a standalone worker's CPU (issue 14). Both loops are tested.
    """
    try:
        import uvloop
    except ImportError:  # uvloop comes with uvicorn[standard]; a bare install may lack it
        asyncio.run(main)
        return
    uvloop.run(main)


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the API's OpenAPI document (what the web UI's client is generated from)."""
    from agentic.api.app import create_app  # the app is built only for this command

    document = json.dumps(create_app(get_settings(), run_workers=False).openapi(), indent=2, sort_keys=True)
    if output is None:
        typer.echo(document)
    else:
        output.write_text(document + "\n", encoding="utf-8")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"agentic {__version__}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
