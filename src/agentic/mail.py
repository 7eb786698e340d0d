"""Outgoing mail: verification links, password resets, invitations.

Mailers implement one `Mailer` protocol. `SmtpMailer` delivers through the configured SMTP server
(`AGENTIC_SMTP_*`). Without an SMTP host the embedded default is `OutboxMailer`: each message becomes a JSON
file in `<data dir>/outbox` (and a log line without its body), so a single-machine install works (and its
links can be read with `agentic mail list`) without any mail infrastructure. Production without an SMTP
host refuses to send (`DisabledMailer`) unless the operator allows the outbox there.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any, Literal, Protocol

import aiosmtplib

from agentic.config import Environment, Settings, SmtpSettings
from agentic.ids import new_id
from agentic.logging import get_logger

_log = get_logger(__name__)

# Permissions of the outbox directory: messages carry live verification and reset links.
_OUTBOX_DIR_MODE = 0o700


@dataclass(frozen=True, slots=True)
class EmailMessage:
    """One message to one recipient.

    Attributes:
        to: Recipient address, e.g. `ada@example.com` or `Ada <ada@example.com>`.
        subject: Subject line (plain text, any language).
        text: Plain-text body; always sent, so every client can read the message.
        html: Optional HTML alternative of the same content.
    """

    to: str
    subject: str
    text: str
    html: str | None = None


class MailDeliveryError(Exception):
    """A message could not be handed over for delivery.

    The message names the server and the underlying error, never credentials.
    """


class Mailer(Protocol):
    """Sends mail; implementations raise `MailDeliveryError` and nothing else on failure."""

    async def send(self, message: EmailMessage) -> None:
        """Send one message.

        Args:
            message: What to send, and to whom.

        Raises:
            MailDeliveryError: The message could not be delivered.
        """
        ...


# --- SMTP ------------------------------------------------------------------------------------------


def _sender_domain(sender: str) -> str:
    address = email.utils.parseaddr(sender)[1]
    _, _, domain = address.rpartition("@")
    # `make_msgid` without a domain calls `socket.getfqdn()`, which blocks the event loop (for seconds on a
    # host with slow reverse DNS); the sender's own domain is also the conventional Message-ID domain.
    return domain or "agentic.local"


class SmtpMailer:
    """Delivers through an SMTP server with `aiosmtplib`, one connection per message.

    Mail is rare (sign-ups, resets, invitations), so a connection per message keeps the mailer stateless and
    safe to share between concurrent requests, at negligible cost.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        """Prepare a mailer; nothing connects until `send`.

        Args:
            settings: Server, credentials, TLS mode, sender and timeout. `settings.host` must be set.

        Raises:
            ValueError: `settings.host` is not set.
        """
        if not settings.host:
            raise ValueError("SmtpMailer needs AGENTIC_SMTP_HOST; without it use OutboxMailer")
        self._settings = settings
        self._host: str = settings.host
        self._domain = _sender_domain(settings.sender)

    def build(self, message: EmailMessage) -> MimeMessage:
        """The standard MIME message that `send` transmits.

        Args:
            message: What to send.

        Returns:
            A `text/plain` message, or `multipart/alternative` with an HTML part when `message.html` is set.

        Raises:
            ValueError: A header value is unacceptable (e.g. contains a line break).
        """
        mime = MimeMessage()
        mime["From"] = self._settings.sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = email.utils.format_datetime(datetime.now(UTC))
        mime["Message-ID"] = email.utils.make_msgid(domain=self._domain)
        mime.set_content(message.text)
        if message.html is not None:
            mime.add_alternative(message.html, subtype="html")
        return mime

    async def send(self, message: EmailMessage) -> None:
        """Send one message through the configured server.

        Args:
            message: What to send, and to whom.

        Raises:
            MailDeliveryError: Invalid headers or address, connection, TLS, authentication, timeout or a
                refusal by the server.
        """
        settings = self._settings
        password = settings.password.get_secret_value() if settings.password is not None else None
        where = f"{self._host}:{settings.port}"
        try:
            mime = self.build(message)
            await aiosmtplib.send(
                mime,
                hostname=self._host,
                port=settings.port,
                username=settings.username,
                password=password,
                # `start_tls=None` would mean "upgrade if offered"; the setting is explicit, so pass False.
                start_tls=settings.tls == "starttls",
                use_tls=settings.tls == "tls",
                timeout=settings.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as exc:
            # aiosmtplib raises ValueError for addresses it will not put on an SMTP command line.
            raise MailDeliveryError(f"could not send mail via {where}: {type(exc).__name__}: {exc}") from exc
        _log.info("mail.sent", to=message.to, subject=message.subject, server=where)


# --- local outbox ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredMail:
    """A message kept in the local outbox.

    Attributes:
        id: Unique, time-ordered identifier.
        created_at: When it was written (UTC).
        to: Recipient.
        subject: Subject line.
        text: Plain-text body.
        html: HTML alternative, if any.
    """

    id: str
    created_at: datetime
    to: str
    subject: str
    text: str
    html: str | None


class OutboxMailer:
    """Writes each message as a JSON file into a local directory instead of sending it.

    The embedded default when no SMTP host is configured (in production only when the operator allows it).
    Each message is logged (`mail.outbox`) by recipient and subject, never with its body: bodies hold live
    verification, reset and invitation links, and logs travel further than the data directory.
    `agentic mail list` shows the messages and their links.
    """

    def __init__(self, outbox_dir: Path) -> None:
        """Prepare a mailer; the directory is created (mode 0700) on the first message.

        Args:
            outbox_dir: Where the JSON files go, usually `<data dir>/outbox`.
        """
        self.outbox_dir = outbox_dir

    async def send(self, message: EmailMessage) -> None:
        """Store one message in the outbox and log it.

        Args:
            message: What to store.

        Raises:
            MailDeliveryError: The file could not be written.
        """
        try:
            stored = await asyncio.to_thread(self._write, message)
        except OSError as exc:
            raise MailDeliveryError(
                f"could not write mail to outbox {self.outbox_dir}: {type(exc).__name__}: {exc}"
            ) from exc
        _log.info(
            "mail.outbox",
            id=stored.id,
            to=message.to,
            subject=message.subject,
            path=str(self.outbox_dir),
            read_with="agentic mail list",
        )

    def _write(self, message: EmailMessage) -> StoredMail:
        stored = StoredMail(
            id=str(new_id()),
            created_at=datetime.now(UTC),
            to=message.to,
            subject=message.subject,
            text=message.text,
            html=message.html,
        )
        payload = {
            "id": stored.id,
            "created_at": stored.created_at.isoformat(),
            "to": stored.to,
            "subject": stored.subject,
            "text": stored.text,
            "html": stored.html,
        }
        self.outbox_dir.mkdir(mode=_OUTBOX_DIR_MODE, parents=True, exist_ok=True)
        name = f"{stored.created_at.strftime('%Y%m%dT%H%M%S%fZ')}-{stored.id}.json"
        # Write beside the target and rename: a reader (`list_outbox`, a tail -f) never sees half a file.
        # The `.tmp` suffix keeps a leftover from a crash out of `list_outbox`'s `*.json`.
        fd, tmp = tempfile.mkstemp(dir=self.outbox_dir, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(payload, file, ensure_ascii=False, indent=2)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, self.outbox_dir / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return stored


def _read_stored(path: Path) -> StoredMail | None:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        created_at = datetime.fromisoformat(data["created_at"])
        fields = (data["id"], data["to"], data["subject"], data["text"])
        html = data.get("html")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not all(isinstance(value, str) for value in fields) or not isinstance(html, str | None):
        return None
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    id_, to, subject, text = fields
    return StoredMail(id=id_, created_at=created_at, to=to, subject=subject, text=text, html=html)


def _address_key(address: str) -> str:
    # Compare bare addresses so `Ada <ADA@example.com>` matches `ada@example.com`.
    return (email.utils.parseaddr(address)[1] or address).strip().casefold()


def list_outbox(outbox_dir: Path, *, to: str | None = None, limit: int | None = None) -> list[StoredMail]:
    """The messages in a local outbox, newest first.

    Files that cannot be read or parsed are skipped, so one damaged file does not hide the others.

    Args:
        outbox_dir: The outbox directory (missing means empty).
        to: Only messages to this address (case-insensitive; display names are ignored).
        limit: At most this many messages.

    Returns:
        The stored messages, newest first.

    Raises:
        ValueError: `limit` is negative.
    """
    if limit is not None and limit < 0:
        raise ValueError("limit must not be negative")
    if not outbox_dir.is_dir():
        return []
    wanted = _address_key(to) if to is not None else None
    messages = [
        stored
        for path in outbox_dir.glob("*.json")
        if (stored := _read_stored(path)) is not None
        and (wanted is None or _address_key(stored.to) == wanted)
    ]
    # The UUIDv7 id breaks ties between messages written within the same clock tick.
    messages.sort(key=lambda stored: (stored.created_at, stored.id), reverse=True)
    return messages if limit is None else messages[:limit]


# --- selection and helpers -------------------------------------------------------------------------


MailDelivery = Literal["smtp", "outbox", "disabled"]


def mail_delivery(settings: Settings) -> MailDelivery:
    """How this server delivers mail: through SMTP, into the local outbox, or not at all.

    Production without an SMTP host does not use the outbox unless the operator allows it
    (`AGENTIC_SMTP_ALLOW_OUTBOX_IN_PRODUCTION`): messages with live links would pile up on a server's disk
    where nobody expects them, and nobody would receive them.
    """
    if settings.smtp.host:
        return "smtp"
    if settings.env is Environment.PRODUCTION and not settings.smtp.allow_outbox_in_production:
        return "disabled"
    return "outbox"


class DisabledMailer:
    """Production without a mail server: every message is refused, saying what to configure."""

    async def send(self, message: EmailMessage) -> None:
        """Refuse the message.

        Raises:
            MailDeliveryError: Always.
        """
        raise MailDeliveryError(
            "no mail server is configured: set AGENTIC_SMTP_HOST (or AGENTIC_SMTP_ALLOW_OUTBOX_IN_PRODUCTION="
            "true to keep messages in the local outbox)"
        )


def create_mailer(settings: Settings) -> Mailer:
    """The mailer the settings call for (see `mail_delivery`).

    Args:
        settings: Platform settings.

    Returns:
        `SmtpMailer` when `AGENTIC_SMTP_HOST` is set; `OutboxMailer` on `<data dir>/outbox` outside
        production or when allowed there; otherwise `DisabledMailer` (logged as `mail.disabled`).
    """
    delivery = mail_delivery(settings)
    if delivery == "smtp":
        return SmtpMailer(settings.smtp)
    if delivery == "disabled":
        _log.warning(
            "mail.disabled",
            reason="production without AGENTIC_SMTP_HOST: verification, reset and invitation mail is not "
            "sent",
        )
        return DisabledMailer()
    return OutboxMailer(settings.data_dir / "outbox")


_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
# Sentence punctuation that follows a URL in prose but is almost never its last character.
_TRAILING = ".,;:!?'\"\u201d\u2019\u00bb"  # ASCII, and closing typographic quotes
_CLOSERS = {")": "(", "]": "[", "}": "{"}


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last]):
            # "(see https://x/y)" drops the ")", but "https://x/Foo_(bar)" keeps its balanced one.
            url = url[:-1]
        else:
            break
    return url


def extract_links(text: str) -> list[str]:
    """The http(s) URLs in a message body, in order of first appearance, without duplicates.

    Args:
        text: A plain-text (or HTML) body.

    Returns:
        The URLs, with trailing sentence punctuation and unbalanced closing brackets removed.
    """
    links: dict[str, None] = {}
    for match in _URL.finditer(text):
        url = _trim(match.group(0))
        if "://" in url and not url.endswith("://"):
            links.setdefault(url, None)
    return list(links)
