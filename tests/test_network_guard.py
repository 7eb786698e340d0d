"""The test suite cannot reach the outside world (and so never a real LLM provider)."""

import socket

import pytest

from tests.conftest import NetworkBlockedError


def test_outside_hosts_are_blocked() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkBlockedError):
        sock.connect(("93.184.216.34", 443))


def test_loopback_is_allowed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass


async def test_a_real_provider_call_fails_fast() -> None:
    import openai

    client = openai.AsyncOpenAI(
        api_key="sk-test", max_retries=0, timeout=5, http_client=openai.DefaultAioHttpClient()
    )
    try:
        with pytest.raises(openai.APIConnectionError):
            await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    finally:
        await client.close()
