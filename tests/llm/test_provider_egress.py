"""LLM provider clients connect only where the outbound policy allows, checked when the connection opens, and
follow no redirect (issue 15, finding 1: production SSRF through an organisation's `base_url`).

Real SDK clients against real servers on loopback: an "internal" server that answers like the metadata service
(and like a model, so a leak would read as a normal answer) records every request it gets.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from agentic.config import Environment, LLMSettings, SecuritySettings, Settings
from agentic.llm import AllTargetsFailed, LLMGateway, LLMRequest, Message, Target
from agentic.llm.errors import EndpointRefused, UnexpectedResponse
from agentic.llm.gateway import Credential
from agentic.llm.providers.anthropic import AnthropicProvider
from agentic.llm.providers.openai import OpenAIProvider
from agentic.resources import Resources
from agentic.security.egress import endpoint_policy
from agentic.security.ssrf import check_outbound_url
from agentic.services.llm import allow_internal_endpoints
from agentic.tools.http import OutboundPolicy
from tests.conftest import make_settings
from tests.support.local_server import serve
from tests.support.rebinding import PUBLIC_ADDRESS, rebinding_name

PROVIDERS = ["openai", "anthropic"]
REQUEST = LLMRequest(messages=(Message("user", "hello"),), max_tokens=16)
SECRET = "a-real-secret-key-of-production-length-0123456789"
REBINDING_HOST = "llm.rebinding.test"


def _settings(tmp_path: Path, env: Environment, *, opt_in: bool = False) -> Settings:
    return make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        env=env,
        security=SecuritySettings(secret_key=SecretStr(SECRET)),
        llm=LLMSettings(allow_internal_base_urls=opt_in),
    )


class Internal:
    """The internal service: answers every request with its secret, as a model's answer of either format."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        text = "iam-role-secret-from-the-metadata-service"
        if request.path.endswith("/messages"):
            return web.json_response(
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "m",
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": 1, "output_tokens": 1},
                }
            )
        return web.json_response(
            {
                "id": "c1",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )


@pytest.fixture
async def internal() -> AsyncIterator[tuple[Internal, int]]:
    service = Internal()
    async with serve(service.app) as port:
        yield service, port


def _redirecting(location: str) -> web.Application:
    async def redirect(_request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(location)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    return app


def _provider(name: str, base_url: str, policy: OutboundPolicy) -> OpenAIProvider | AnthropicProvider:
    if name == "openai":
        return OpenAIProvider(api_key="sk-test", base_url=base_url, policy=policy)
    return AnthropicProvider(api_key="sk-ant-test", base_url=base_url, policy=policy)


def _org_gateway(settings: Settings, base_url: str) -> LLMGateway:
    """The gateway as the platform builds it, with one organisation credential pointing at `base_url`."""

    async def credential(org_id: uuid.UUID | None, provider: str, name: str | None) -> Credential:
        del org_id, provider, name
        return Credential("sk-org-key-0123456789", base_url, "organization")

    return LLMGateway(
        LLMSettings(max_retries=2, backoff_base_s=0.01, backoff_max_s=0.02),
        resolve_credential=credential,
        allow_internal_endpoints=allow_internal_endpoints(settings),
    )


async def _call(gateway: LLMGateway, provider: str) -> Any:
    try:
        return await gateway.complete(REQUEST, targets=[Target(provider, "m")])
    finally:
        await gateway.aclose()


@pytest.fixture
async def rebinding() -> AsyncIterator[list[str]]:
    """`REBINDING_HOST` resolves to a public address on the first lookup, to 127.0.0.1 afterwards."""
    with rebinding_name(REBINDING_HOST) as answers:
        yield answers


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("allow_internal", [False, True], ids=["production", "dev"])
async def test_a_redirect_to_the_metadata_service_is_an_error_and_is_not_followed(
    internal: tuple[Internal, int], provider: str, allow_internal: bool
) -> None:
    service, internal_port = internal
    # In production the endpoint must be public: the redirecting server stands for one (127.0.0.2, exempted
    # alone); the internal service on 127.0.0.1 stays refused. In dev every address is allowed, so only the
    # refusal to follow keeps the internal service out of reach.
    policy = endpoint_policy(allow_internal=allow_internal)
    if not allow_internal:
        policy = OutboundPolicy(allow_private_networks=frozenset({"127.0.0.2/32"}), max_redirects=0)
    location = f"http://127.0.0.1:{internal_port}/latest/meta-data/iam/security-credentials/role"
    async with serve(_redirecting(location), "127.0.0.2") as port:
        client = _provider(provider, f"http://127.0.0.2:{port}/v1", policy)
        try:
            with pytest.raises(UnexpectedResponse) as caught:
                await client.model("m", {}).complete(REQUEST, timeout_s=10)
            streaming = client.model("m", {}).stream(REQUEST, timeout_s=10)
            with pytest.raises(UnexpectedResponse):
                async for _chunk in streaming:
                    pass
        finally:
            await client.aclose()
    assert caught.value.code == "unexpected_response"
    assert "307" in caught.value.message
    assert "redirect" in caught.value.message
    assert "secret" not in caught.value.message
    assert service.hits == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_dns_rebinding_passes_registration_and_is_refused_when_the_call_connects(
    tmp_path: Path, internal: tuple[Internal, int], rebinding: list[str], provider: str
) -> None:
    service, port = internal
    settings = _settings(tmp_path, Environment.PRODUCTION)
    base_url = f"http://{REBINDING_HOST}:{port}/v1"
    # Registration (what `create_credential` runs) sees the public address and accepts the URL.
    registered = await check_outbound_url(
        base_url, allow_internal=allow_internal_endpoints(settings), field="base_url"
    )
    assert registered == base_url
    with pytest.raises(AllTargetsFailed) as caught:
        await _call(_org_gateway(settings, registered), provider)
    error = caught.value.last
    assert isinstance(error, EndpointRefused)
    assert error.code == "connection_error"
    assert "127.0.0.1" in error.message
    assert not error.retryable  # one attempt: asking again gets the same refusal
    assert rebinding == [PUBLIC_ADDRESS, "127.0.0.1"]  # registration's lookup, then the guard's
    assert service.hits == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_internal_base_url_is_refused_in_production_when_used(
    tmp_path: Path, internal: tuple[Internal, int], provider: str
) -> None:
    # A credential stored before the rule (or by a path that skipped it): refused when the call connects.
    service, port = internal
    gateway = _org_gateway(_settings(tmp_path, Environment.PRODUCTION), f"http://127.0.0.1:{port}/v1")
    with pytest.raises(AllTargetsFailed) as caught:
        await _call(gateway, provider)
    assert isinstance(caught.value.last, EndpointRefused)
    assert service.hits == []


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("env", "opt_in"),
    [
        pytest.param(Environment.DEV, False, id="dev"),
        pytest.param(Environment.PRODUCTION, True, id="production-opted-in"),
    ],
)
async def test_a_loopback_base_url_works_outside_production_or_when_the_operator_opts_in(
    tmp_path: Path, internal: tuple[Internal, int], provider: str, env: Environment, opt_in: bool
) -> None:
    service, port = internal
    gateway = _org_gateway(_settings(tmp_path, env, opt_in=opt_in), f"http://localhost:{port}/v1")
    result = await _call(gateway, provider)
    assert result.response.content == "iam-role-secret-from-the-metadata-service"
    assert len(service.hits) == 1


@pytest.mark.parametrize(
    ("env", "opt_in", "allowed"),
    [
        pytest.param(Environment.PRODUCTION, False, False, id="production"),
        pytest.param(Environment.PRODUCTION, True, True, id="production-opted-in"),
        pytest.param(Environment.DEV, False, True, id="dev"),
    ],
)
async def test_the_platform_gateway_gets_the_registration_rule(
    tmp_path: Path, env: Environment, opt_in: bool, allowed: bool
) -> None:
    resources = Resources.open(_settings(tmp_path, env, opt_in=opt_in))
    try:
        assert resources.llm.allow_internal_endpoints is allowed
    finally:
        await resources.close()
