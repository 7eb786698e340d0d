"""The model behind the LiteLLM proxy in the contract tests: a `CustomLLM` the proxy loads from its config.

It runs inside the proxy's own virtualenv (LiteLLM's pins differ from ours), never in the test process; the
proxy finds it beside `litellm_config.yaml`. The scenario is the model name (`agentic-contract/<scenario>`):

- `text`: streams "Hello from LiteLLM." in four pieces; usage 11 prompt / 4 completion tokens.
- `tools`: streams a call of the request's first tool with `{"url": <the last user message>}` (the arguments
  in two fragments); once the conversation holds the tool's result, answers "The tool said: " and the
  result's first 200 characters.
- `options`: answers with the JSON of the sampling fields of the request as it reached the proxy.
- `midstream`: streams "Hello from", then fails (503): the proxy reports the error inside the stream.
- `fail`: fails before any content (500) with a long, single-line message holding a traceback.

Every request is checked as the strictest servers check it, on the raw body the proxy received: an OpenAI
assistant message whose `content` is `null` is refused with a 500 (llama-cpp-python's server does), an empty
Anthropic text block with a 400 (the Messages API does).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from litellm import CustomLLM  # type: ignore[import-not-found]
from litellm.llms.custom_llm import CustomLLMError  # type: ignore[import-not-found]

USAGE = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
TEXT = ["Hello", " from", " LiteLLM", "."]
SAMPLING = ("temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "stop", "stop_sequences")
FAILURE = "model crashed: CUDA error. Traceback (most recent call last): " + (
    'File "/srv/model/generate.py", line 211, in generate: out = self.forward(batch); ' * 20
)


def _chunk(text: str = "", *, tool: dict[str, Any] | None = None, finish: str = "") -> dict[str, Any]:
    return {
        "text": text,
        "tool_use": tool,
        "is_finished": bool(finish),
        "finish_reason": finish,
        "usage": USAGE if finish else None,
        "index": 0,
    }


def _raw_request(kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The URL and body of the request as the proxy received it (before LiteLLM translated it)."""
    request = (kwargs.get("litellm_params") or {}).get("proxy_server_request") or {}
    body = request.get("body")
    return str(request.get("url") or ""), body if isinstance(body, dict) else {}


def _check_strictly(url: str, body: dict[str, Any]) -> None:
    for index, message in enumerate(body.get("messages") or []):
        if not isinstance(message, dict):
            continue
        if url.endswith("/chat/completions") and "content" in message and message["content"] is None:
            raise CustomLLMError(500, f"messages[{index}].content is null: a string is required")
        blocks = message.get("content")
        for block in blocks if isinstance(blocks, list) else []:
            if isinstance(block, dict) and block.get("type") == "text" and not block.get("text"):
                raise CustomLLMError(400, f"messages.{index}: text content blocks must be non-empty")


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text_of(part) for part in content)
    if isinstance(content, dict):
        return _text_of(content.get("text") or content.get("content") or "")
    return ""


async def _tools(
    messages: list[dict[str, Any]], optional_params: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    results = [m for m in messages if m.get("role") == "tool"]
    if results:
        for piece in ["The tool said: ", _text_of(results[-1].get("content"))[:200]]:
            yield _chunk(piece)
        yield _chunk(finish="stop")
        return
    tool = (optional_params.get("tools") or [{}])[0].get("function", {}).get("name", "missing")
    url = next(_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user")
    arguments = json.dumps({"url": url})
    call = {"id": "call_contract_1", "type": "function", "index": 0}
    yield _chunk(tool={**call, "function": {"name": tool, "arguments": arguments[:10]}})
    yield _chunk(tool={**call, "id": None, "function": {"name": None, "arguments": arguments[10:]}})
    yield _chunk(finish="tool_calls")


class ContractModel(CustomLLM):  # type: ignore[misc]
    """Streams what the scenario in the model name asks for."""

    async def astreaming(
        self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """The answer as LiteLLM's generic streaming chunks."""
        url, body = _raw_request(kwargs)
        _check_strictly(url, body)
        scenario = model.rsplit("/", 1)[-1]
        if scenario == "fail":
            raise CustomLLMError(500, FAILURE)
        if scenario == "tools":
            async for chunk in _tools(messages, kwargs.get("optional_params") or {}):
                yield chunk
            return
        if scenario == "options":
            yield _chunk(json.dumps({k: body[k] for k in SAMPLING if k in body}, sort_keys=True))
            yield _chunk(finish="stop")
            return
        for piece in TEXT:
            yield _chunk(piece)
            if scenario == "midstream" and piece == " from":
                raise CustomLLMError(503, "the model server went away mid-answer")
        yield _chunk(finish="stop")

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        """The platform always streams; a plain call is a contract break worth seeing."""
        raise CustomLLMError(400, "the contract model only streams")


proxy_handler = ContractModel()
