"""Which webhook URLs may be called: the tools' SSRF guard, with loopback allowed only outside production."""

from __future__ import annotations

from agentic.config import Environment, Settings
from agentic.security.outbound import registered_url_policy
from agentic.tools.http import OutboundPolicy, OutboundRefused, check_url


def outbound_policy(settings: Settings, url: str) -> OutboundPolicy:
    """The policy one webhook URL is sent under; a receiver that redirects is misconfigured (not followed)."""
    return registered_url_policy(
        settings,
        url,
        allowed_ports=settings.webhooks.allowed_ports,
        timeout_s=settings.webhooks.timeout_s,
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
