"""What a call costs: a price table per model, in USD per million tokens, overridable in settings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from agentic.llm.types import Usage


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: Decimal
    output: Decimal
    cached_input: Decimal


def _p(input_: str, output: str, cached: str | None = None) -> Price:
    return Price(Decimal(input_), Decimal(output), Decimal(cached if cached is not None else input_))


# List prices at the time of writing; operators override or extend them with AGENTIC_LLM_PRICES.
DEFAULT_PRICES: dict[str, Price] = {
    "mock/*": _p("0", "0"),
    "openai/gpt-4o": _p("2.50", "10.00", "1.25"),
    "openai/gpt-4o-mini": _p("0.15", "0.60", "0.075"),
    "openai/gpt-4.1": _p("2.00", "8.00", "0.50"),
    "openai/gpt-4.1-mini": _p("0.40", "1.60", "0.10"),
    "anthropic/claude-sonnet-4-5": _p("3.00", "15.00", "0.30"),
    "anthropic/claude-haiku-4-5": _p("1.00", "5.00", "0.10"),
    "anthropic/claude-opus-4-1": _p("15.00", "75.00", "1.50"),
}

_MILLION = Decimal(1_000_000)


class PriceTable:
    """Looks up `provider/model`, then `provider/*`; unknown models cost 0 (and are logged by the caller)."""

    def __init__(self, overrides: dict[str, dict[str, float]] | None = None) -> None:
        self._prices = dict(DEFAULT_PRICES)
        for key, values in (overrides or {}).items():
            self._prices[key] = _p(
                str(values.get("input", 0)),
                str(values.get("output", 0)),
                str(values.get("cached_input", values.get("input", 0))),
            )

    def price(self, provider: str, model: str) -> Price | None:
        """The price of a model, if known."""
        return self._prices.get(f"{provider}/{model}") or self._prices.get(f"{provider}/*")

    def cost(self, provider: str, model: str, usage: Usage) -> Decimal:
        """Cost of `usage` in USD (cached input tokens at the cached rate)."""
        price = self.price(provider, model)
        if price is None:
            return Decimal(0)
        uncached = max(usage.input_tokens - usage.cached_tokens, 0)
        total = (
            uncached * price.input
            + usage.cached_tokens * price.cached_input
            + usage.output_tokens * price.output
        )
        return (total / _MILLION).quantize(Decimal("0.00000001"))
