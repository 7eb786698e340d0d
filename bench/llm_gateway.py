"""LLM gateway under load: N concurrent streaming calls in one process against a local provider server.

The server (tests/support/fake_llm_server.py, its own process) speaks the OpenAI and Anthropic wire
formats and waits 2 s before streaming each answer, like a real model. Every call goes through the full
gateway (breaker, limiter, retry bookkeeping) and the official SDK with its aiohttp transport. Each N runs
in a fresh process so its peak RSS is its own.

    .venv/bin/python bench/llm_gateway.py                      # N = 100, 1000, 5000 on both providers
    .venv/bin/python bench/llm_gateway.py --concurrency 5000 --provider openai
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))


async def _run_one(
    provider: str, concurrency: int, latency_ms: int, tokens: int, base_url: str
) -> dict[str, object]:
    from pydantic import SecretStr

    from agentic.config import LLMSettings
    from agentic.llm import LLMGateway, LLMRequest, Message, StreamDone, Target, TextDelta

    settings = LLMSettings(
        openai_api_key=SecretStr("bench"),
        openai_base_url=f"{base_url}/v1",
        anthropic_api_key=SecretStr("bench"),
        anthropic_base_url=base_url,
        max_retries=0,
        concurrency_per_key=concurrency,
        max_connections=concurrency + 16,
        timeout_s=120,
    )
    gateway = LLMGateway(settings)
    model = "gpt-bench" if provider == "openai" else "claude-bench"
    target = Target(provider, f"{model}+latency={latency_ms}+tokens={tokens}")
    request = LLMRequest(messages=(Message("user", "benchmark the gateway please"),), max_tokens=256)
    errors: list[str] = []
    deltas = 0

    async def one() -> None:
        nonlocal deltas
        try:
            async for chunk in gateway.stream(request, targets=[target]):
                if isinstance(chunk, TextDelta):
                    deltas += 1
                elif isinstance(chunk, StreamDone) and len(chunk.response.content.split()) != tokens:
                    errors.append("short answer")
        except Exception as exc:  # counted and reported
            errors.append(type(exc).__name__)

    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    await gateway.aclose()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "provider": provider,
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "cpu_ms_per_call": round(cpu / concurrency * 1000, 3),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
        "deltas": deltas,
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--provider", choices=["openai", "anthropic", "both"], default="both")
    parser.add_argument("--latency-ms", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.single:
        result = asyncio.run(
            _run_one(args.provider, args.concurrency[0], args.latency_ms, args.tokens, args.base_url)
        )
        print(json.dumps(result))
        return

    from tests.support.fake_llm_server import run_fake_llm_server

    providers = ["openai", "anthropic"] if args.provider == "both" else [args.provider]
    rows = []
    with run_fake_llm_server() as server:
        for provider in providers:
            for n in args.concurrency:
                server.reset()
                out = subprocess.run(  # noqa: S603
                    [
                        sys.executable,
                        __file__,
                        "--single",
                        "--provider",
                        provider,
                        "--concurrency",
                        str(n),
                        "--latency-ms",
                        str(args.latency_ms),
                        "--tokens",
                        str(args.tokens),
                        "--base-url",
                        server.base_url,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=600,
                )
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), file=sys.stderr)
    print(
        f"\nLLM gateway: N concurrent streaming calls, {args.latency_ms} ms server latency,",
        f"{args.tokens} tokens each",
    )
    print(f"{'provider':<10} {'N':>6} {'wall s':>8} {'CPU ms/call':>12} {'peak RSS MB':>12} {'errors':>7}")
    for row in rows:
        print(
            f"{row['provider']:<10} {row['concurrency']:>6} {row['wall_s']:>8} {row['cpu_ms_per_call']:>12} "
            f"{row['peak_rss_mb']:>12} {row['errors']:>7}"
        )


if __name__ == "__main__":
    main()
