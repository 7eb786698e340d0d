"""Outgoing mail: SMTP delivery against a real server, the local outbox, and the helpers."""

from __future__ import annotations

import json
import socket
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agentic.config import Environment, Settings, SmtpSettings
from agentic.mail import (
    DisabledMailer,
    EmailMessage,
    MailDeliveryError,
    OutboxMailer,
    SmtpMailer,
    create_mailer,
    extract_links,
    list_outbox,
)
from tests.support.services import free_port
from tests.support.smtp import SmtpTestServer, smtp_server_fixture  # noqa: F401

LogLines = Callable[[], list[dict[str, Any]]]


def smtp_settings(host: str | None, port: int, **overrides: Any) -> SmtpSettings:
    """SMTP settings independent of the developer's `AGENTIC_SMTP_*` variables."""
    values: dict[str, Any] = {
        "host": host,
        "port": port,
        "tls": "none",
        "username": None,
        "password": None,
        "sender": "Agentic Prüfstand <no-reply@agentic.test>",
        "timeout_s": 5.0,
    }
    values.update(overrides)
    return SmtpSettings(**values)


# --- SMTP ------------------------------------------------------------------------------------------


async def test_smtp_delivers_to_a_real_server(smtp_server: SmtpTestServer) -> None:
    mailer = SmtpMailer(smtp_settings(smtp_server.host, smtp_server.port))
    text = "Grüße, Zoë! Bestätige hier: https://agentic.test/verify?token=abc123\n— 日本語もOK ✓\n"

    await mailer.send(EmailMessage(to="Ada@Example.com", subject="Willkommen — bestätigen ✓", text=text))

    mail = smtp_server.wait_for("ada@example.com")
    assert mail.subject == "Willkommen — bestätigen ✓"
    assert mail.text == text
    assert mail.html is None
    assert mail.sender == "Agentic Prüfstand <no-reply@agentic.test>"
    assert mail.mail_from == "no-reply@agentic.test"
    assert mail.rcpt_tos == ("Ada@Example.com",)
    assert mail.message_id.endswith("@agentic.test>")
    assert b"\nDate: " in mail.raw.replace(b"\r\n", b"\n")
    assert extract_links(mail.text) == ["https://agentic.test/verify?token=abc123"]


async def test_smtp_sends_an_html_alternative(smtp_server: SmtpTestServer) -> None:
    mailer = SmtpMailer(smtp_settings(smtp_server.host, smtp_server.port))
    message = EmailMessage(
        to="grace@example.com",
        subject="Reset",
        text="Reset: https://agentic.test/reset/1\n",
        html='<p>Réinitialiser : <a href="https://agentic.test/reset/1">ici</a></p>\n',
    )

    await mailer.send(message)

    mail = smtp_server.wait_for("grace@example.com")
    assert mail.text == message.text
    assert mail.html == message.html
    assert b"multipart/alternative" in mail.raw


@pytest.mark.parametrize(
    ("tls", "error"),
    [("starttls", "STARTTLS extension not supported"), ("tls", "SSL")],
)
async def test_smtp_tls_modes_are_enforced(smtp_server: SmtpTestServer, tls: str, error: str) -> None:
    # The test server speaks plain SMTP only: a mailer configured for TLS must refuse to fall back to it.
    mailer = SmtpMailer(smtp_settings(smtp_server.host, smtp_server.port, tls=tls, timeout_s=2.0))

    with pytest.raises(MailDeliveryError, match=error):
        await mailer.send(EmailMessage(to="ada@example.com", subject="Hi", text="Hello"))

    assert smtp_server.messages == []


async def test_smtp_to_a_closed_port_fails_fast() -> None:
    mailer = SmtpMailer(smtp_settings("127.0.0.1", free_port(), timeout_s=2.0))
    started = time.monotonic()

    with pytest.raises(MailDeliveryError, match=r"127\.0\.0\.1"):
        await mailer.send(EmailMessage(to="ada@example.com", subject="Hi", text="Hello"))

    assert time.monotonic() - started < 2.0 + 1.0


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel completes them) but never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield int(sock.getsockname()[1])


async def test_smtp_timeout_becomes_a_delivery_error(silent_listener: int) -> None:
    mailer = SmtpMailer(smtp_settings("127.0.0.1", silent_listener, timeout_s=0.5))
    started = time.monotonic()

    with pytest.raises(MailDeliveryError) as caught:
        await mailer.send(EmailMessage(to="ada@example.com", subject="Hi", text="Hello"))

    assert isinstance(caught.value.__cause__, TimeoutError)
    assert time.monotonic() - started < 0.5 + 2.0


async def test_smtp_failure_never_reveals_the_password(
    smtp_server: SmtpTestServer, log_lines: LogLines
) -> None:
    # The test server offers no AUTH (aiosmtpd requires TLS for it), so logging in must fail.
    secret = "hunter2-very-secret"
    mailer = SmtpMailer(
        smtp_settings(smtp_server.host, smtp_server.port, username="ada", password=secret, timeout_s=2.0)
    )

    with pytest.raises(MailDeliveryError) as caught:
        await mailer.send(EmailMessage(to="ada@example.com", subject="Hi", text="Hello"))

    assert secret not in str(caught.value)
    assert secret not in repr(mailer.__dict__)
    assert all(secret not in json.dumps(line) for line in log_lines())
    assert smtp_server.messages == []


async def test_smtp_rejects_header_injection(smtp_server: SmtpTestServer) -> None:
    mailer = SmtpMailer(smtp_settings(smtp_server.host, smtp_server.port))

    with pytest.raises(MailDeliveryError):
        await mailer.send(EmailMessage(to="ada@example.com", subject="Hi\r\nBcc: eve@example.com", text="x"))

    assert smtp_server.messages == []


def test_smtp_mailer_needs_a_host() -> None:
    with pytest.raises(ValueError, match="AGENTIC_SMTP_HOST"):
        SmtpMailer(smtp_settings(None, 25))


# --- outbox ----------------------------------------------------------------------------------------


async def test_outbox_writes_files_listed_newest_first(tmp_path: Path, log_lines: LogLines) -> None:
    outbox = tmp_path / "data" / "outbox"
    mailer = OutboxMailer(outbox)

    await mailer.send(EmailMessage(to="ada@example.com", subject="first", text="one https://x.test/1"))
    await mailer.send(EmailMessage(to="grace@example.com", subject="second", text="two", html="<b>two</b>"))
    await mailer.send(EmailMessage(to="Ada <ADA@example.com>", subject="third", text="three ✓"))

    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    files = sorted(p.name for p in outbox.iterdir())
    assert len(files) == 3
    assert all(name.endswith(".json") and not name.startswith(".") for name in files)
    on_disk = json.loads((outbox / files[1]).read_text(encoding="utf-8"))
    assert set(on_disk) == {"id", "created_at", "to", "subject", "text", "html"}
    assert datetime.fromisoformat(on_disk["created_at"]).tzinfo is not None

    everything = list_outbox(outbox)
    assert [m.subject for m in everything] == ["third", "second", "first"]
    assert everything[1].html == "<b>two</b>"
    assert everything[0].text == "three ✓"
    assert everything[0].created_at.tzinfo == UTC
    assert [m.subject for m in list_outbox(outbox, to="ada@EXAMPLE.com")] == ["third", "first"]
    assert [m.subject for m in list_outbox(outbox, to="ada@example.com", limit=1)] == ["third"]
    assert list_outbox(outbox, to="nobody@example.com") == []

    logged = [line for line in log_lines() if line.get("event") == "mail.outbox"]
    assert [(line["to"], line["subject"], line["read_with"]) for line in logged] == [
        ("ada@example.com", "first", "agentic mail list"),
        ("grace@example.com", "second", "agentic mail list"),
        ("Ada <ADA@example.com>", "third", "agentic mail list"),
    ]
    # Issue 15: bodies hold live links (verification, reset, invitation): never in a log line.
    assert "text" not in logged[0]
    assert not [line for line in log_lines() if "https://x.test/1" in json.dumps(line)]


async def test_outbox_skips_unreadable_files(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    await OutboxMailer(outbox).send(EmailMessage(to="ada@example.com", subject="ok", text="fine"))
    (outbox / "20000101T000000000000Z-broken.json").write_text("{not json", encoding="utf-8")
    (outbox / "20000101T000000000001Z-partial.json").write_text('{"id": "x"}', encoding="utf-8")
    (outbox / "20000101T000000000002Z-wrong.json").write_text("[1, 2]", encoding="utf-8")
    (outbox / ".leftover.tmp").write_text("{", encoding="utf-8")
    (outbox / "directory.json").mkdir()

    assert [m.subject for m in list_outbox(outbox)] == ["ok"]


def test_list_outbox_of_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert list_outbox(tmp_path / "nothing-here") == []


async def test_outbox_write_failure_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")

    with pytest.raises(MailDeliveryError):
        await OutboxMailer(blocker / "outbox").send(EmailMessage(to="a@example.com", subject="s", text="t"))


# --- selection and helpers -------------------------------------------------------------------------


def test_create_mailer_picks_smtp_only_with_a_host(tmp_path: Path) -> None:
    base: dict[str, Any] = {"env": Environment.TEST, "data_dir": tmp_path / "data"}

    embedded = create_mailer(Settings.model_validate({**base, "smtp": smtp_settings(None, 587)}))
    assert isinstance(embedded, OutboxMailer)
    assert embedded.outbox_dir == tmp_path / "data" / "outbox"
    assert not embedded.outbox_dir.exists()  # created on the first message, not on construction

    configured = Settings.model_validate({**base, "smtp": smtp_settings("mail.example.com", 587)})
    assert isinstance(create_mailer(configured), SmtpMailer)


async def test_production_without_a_mail_server_refuses_mail_unless_the_outbox_is_allowed(
    tmp_path: Path, log_lines: LogLines
) -> None:
    """Issue 15: production wrote verification and reset links to the local outbox (and the log)."""
    base: dict[str, Any] = {
        "env": Environment.PRODUCTION,
        "data_dir": tmp_path / "data",
        "security": {"secret_key": "p" * 64},
    }
    refusing = create_mailer(Settings.model_validate({**base, "smtp": smtp_settings(None, 587)}))
    assert isinstance(refusing, DisabledMailer)
    assert [line for line in log_lines() if line.get("event") == "mail.disabled"]
    with pytest.raises(MailDeliveryError, match="AGENTIC_SMTP_HOST"):
        await refusing.send(EmailMessage(to="ada@example.com", subject="Verify", text="https://x.test/v?t=1"))
    assert not (tmp_path / "data" / "outbox").exists()

    allowed = smtp_settings(None, 587, allow_outbox_in_production=True)
    assert isinstance(create_mailer(Settings.model_validate({**base, "smtp": allowed})), OutboxMailer)
    with_host = smtp_settings("mail.example.com", 587)
    assert isinstance(create_mailer(Settings.model_validate({**base, "smtp": with_host})), SmtpMailer)


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("no links here", []),
        ("Verify: https://a.test/verify?token=x&next=%2F.", ["https://a.test/verify?token=x&next=%2F"]),
        ("two http://a.test/1, HTTPS://b.test/2; done", ["http://a.test/1", "HTTPS://b.test/2"]),
        ("(see https://a.test/x) and <https://a.test/y>", ["https://a.test/x", "https://a.test/y"]),
        ("https://en.wikipedia.org/wiki/Foo_(bar)!", ["https://en.wikipedia.org/wiki/Foo_(bar)"]),
        ("same https://a.test/1 twice https://a.test/1", ["https://a.test/1"]),
        ('<a href="https://a.test/r">go</a>', ["https://a.test/r"]),
        ("ftp://a.test/file and mailto:x@a.test and https:// alone", []),
        ("line one\nhttps://a.test/a\nhttps://a.test/b", ["https://a.test/a", "https://a.test/b"]),
    ],
)
def test_extract_links(text: str, links: list[str]) -> None:
    assert extract_links(text) == links
