"""What happens when the platform starts on an empty database."""

from __future__ import annotations

import sys

from agentic.db import migrate
from agentic.errors import AgenticError, ConfigurationError
from agentic.logging import get_logger
from agentic.resources import Resources
from agentic.services.setup import AlreadySetUp, create_first_admin, needs_setup, setup_link

log = get_logger("agentic.first_run")


async def run_first_start(resources: Resources) -> None:
    """Make sure a fresh installation can be signed into.

    With `AGENTIC_ADMIN_EMAIL` and `AGENTIC_ADMIN_PASSWORD` set, the first administrator is created from them;
    otherwise a one-time setup link is printed. Does nothing once any user exists, or while the schema is not
    migrated (readiness reports that instead).

    Raises:
        ConfigurationError: The configured admin credentials are unacceptable (e.g. password too short).
    """
    if await migrate.current_revision(resources.engine) != resources.expected_revision:
        log.warning("first_run.schema_not_current", hint="run `agentic db upgrade`")
        return
    async with resources.sessions() as session:
        if not await needs_setup(session):
            return
    settings = resources.settings
    admin = settings.admin
    if admin.email and admin.password:
        async with resources.sessions() as session:
            try:
                created = await create_first_admin(
                    session,
                    email=admin.email,
                    password=admin.password.get_secret_value(),
                    organization_name=admin.organization_name,
                    via="environment",
                )
            except AlreadySetUp:
                return  # another replica won the race
            except AgenticError as exc:
                raise ConfigurationError(f"AGENTIC_ADMIN_* settings rejected: {exc.message}") from exc
        log.info("first_run.admin_created", email=created.email, organization_id=str(created.organization_id))
        return
    link = setup_link(public_url=settings.public_url, secret_key=resources.secret_key)
    # Printed plainly as well as logged: this is the one line a new user must find in the output.
    print(  # noqa: T201
        f"\n  First run: create the administrator account at\n    {link}\n"
        "  (or set AGENTIC_ADMIN_EMAIL and AGENTIC_ADMIN_PASSWORD and restart;"
        " `agentic setup-link` prints this link again)\n",
        file=sys.stderr,
        flush=True,
    )
    log.info("first_run.setup_link_printed")
