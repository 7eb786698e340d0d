"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, in its own thread, recording what it receives.

`smtp_server()` is a context manager; `smtp_server_fixture` exposes it as the `smtp_server` fixture
(import it into a test module or conftest to use it).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.services import free_port


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the server received it.

    `to`, `sender` and `subject` are the decoded headers; `rcpt_tos` and `mail_from` the SMTP envelope;
    `text` and `html` the decoded bodies with `\n` line endings; `raw` the bytes as received.
    """

    to: str
    sender: str
    subject: str
    text: str
    html: str | None
    message_id: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    def addressed_to(self, address: str) -> bool:
        """True if `address` is an envelope recipient or appears in the To header (case-insensitive)."""
        wanted = address.casefold()
        headers = [addr for _, addr in email.utils.getaddresses([self.to])]
        return any(candidate.casefold() == wanted for candidate in (*self.rcpt_tos, *headers))


def _part_text(message: EmailMessage, preference: str) -> str | None:
    part = message.get_body(preferencelist=(preference,))
    if part is None or part.get_content_type() != f"text/{preference}":
        return None
    content: str = part.get_content()
    # SMTP carries lines as CRLF and `get_content` keeps them; compare with what was sent, in `\n`.
    return content.replace("\r\n", "\n")


def parse_received(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> ReceivedMail:
    """Parse raw message bytes as delivered by SMTP."""
    message = email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)
    return ReceivedMail(
        to=str(message.get("To", "")),
        sender=str(message.get("From", "")),
        subject=str(message.get("Subject", "")),
        text=_part_text(message, "plain") or "",
        html=_part_text(message, "html"),
        message_id=str(message.get("Message-ID", "")),
        mail_from=mail_from,
        rcpt_tos=tuple(rcpt_tos),
        raw=raw,
    )


class _Recorder:
    """aiosmtpd handler: parses each message and appends it to a list shared with the test thread."""

    def __init__(self, server: SmtpTestServer) -> None:
        self._server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  # aiosmtpd hook name
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        self._server.record(parse_received(raw, str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpTestServer:
    """What `smtp_server()` yields: where the server listens and what it has received."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []

    def record(self, mail: ReceivedMail) -> None:
        """Add a received message (called from the server's thread)."""
        with self._lock:
            self._messages.append(mail)

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot of the messages received so far, oldest first."""
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        """Forget the messages received so far."""
        with self._lock:
            self._messages.clear()

    def wait_for(self, to: str, timeout: float = 10) -> ReceivedMail:
        """The first message to `to`, waiting up to `timeout` seconds for it to arrive.

        Blocks the calling thread; the server runs in its own thread, so this is safe from async tests, but
        mail sent by a task on the test's own event loop cannot progress while this waits.

        Raises:
            AssertionError: Nothing to `to` arrived in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            for mail in self.messages:
                if mail.addressed_to(to):
                    return mail
            if time.monotonic() >= deadline:
                received = [mail.rcpt_tos for mail in self.messages]
                raise AssertionError(f"no mail to {to!r} within {timeout}s; received for: {received}")
            time.sleep(0.05)


@contextlib.contextmanager
def smtp_server() -> Iterator[SmtpTestServer]:
    """Run an SMTP server on 127.0.0.1 (free port, no TLS, no auth) for the duration of the block."""
    host = "127.0.0.1"
    port = free_port()
    server = SmtpTestServer(host, port)
    controller = Controller(_Recorder(server), hostname=host, port=port)
    # aiosmtpd logs every connection and command at INFO ("mail.log"), which would bury the platform's own
    # lines in failing tests' output (and in `log_lines`).
    aiosmtpd_log = logging.getLogger("mail.log")
    previous_level = aiosmtpd_log.level
    aiosmtpd_log.setLevel(logging.WARNING)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
        aiosmtpd_log.setLevel(previous_level)


@pytest.fixture(name="smtp_server")
def smtp_server_fixture() -> Iterator[SmtpTestServer]:
    """A fresh SMTP server per test; `.messages` holds what it received."""
    with smtp_server() as server:
        yield server
