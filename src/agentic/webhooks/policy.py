"""Which webhook URLs may be called: the tools' SSRF guard, with loopback allowed only outside production."""

from __future__ import annotations

import ipaddress

from yarl import URL

from agentic.config import Environment, Settings
from agentic.tools.http import OutboundPolicy, OutboundRefused, check_url

_LOOPBACK = ("127.0.0.0/8", "::1/128")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def outbound_policy(settings: Settings, url: str) -> OutboundPolicy:
    """The policy one webhook URL is sent under.

    In dev and test a receiver on this machine (any port) is allowed, so a developer can point a webhook at
    a local server; in production loopback is refused like every other internal address, and only the
    configured ports are allowed.
    """
    ports = set(settings.webhooks.allowed_ports)
    private: frozenset[str] = frozenset()
    if settings.env is not Environment.PRODUCTION:
        try:
            parsed = URL(url)
        except (ValueError, TypeError):
            parsed = None
        if parsed is not None and parsed.host and _is_loopback(parsed.host):
            private = frozenset(_LOOPBACK)
            if parsed.port is not None:
                ports.add(parsed.port)
    return OutboundPolicy(
        allowed_ports=frozenset(ports),
        total_timeout=settings.webhooks.timeout_s,
        connect_timeout=min(10.0, settings.webhooks.timeout_s),
        max_redirects=0,  # a receiver that redirects is misconfigured: retried, never followed elsewhere
        max_response_bytes=64 * 1024,
        allow_private_networks=private,
        user_agent="agentic-webhooks/1",
    )


def check_webhook_url(settings: Settings, url: str) -> str:
    """Refuse a URL the dispatcher would never call (scheme, credentials, port, internal IP literal).

    Host names are checked again at every delivery, after DNS resolution, like any outbound call.

    Raises:
        OutboundRefused: The reason, machine-readable in `code`.
    """
    checked = check_url(outbound_policy(settings, url), url)
    if settings.env is Environment.PRODUCTION and checked.scheme != "https":
        raise OutboundRefused("scheme_refused", "Webhook URLs must use https in production.")
    return str(checked)
