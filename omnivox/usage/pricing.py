"""Usage -> what it would cost, in exact decimals: one line item per kind of use (OpenAI's Costs API
names them `<model>, <kind>`), each a quantity times its rate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from omnivox.usage.counts import Usage
from omnivox.usage.settings import ModelPrice

_MILLION = Decimal(1_000_000)
_MS_PER_MINUTE = Decimal(60_000)
_FREE = ModelPrice()


@dataclass(frozen=True, slots=True)
class LineItem:
    kind: str  # input, cached input, audio input, cached audio input, output, audio output, ...
    quantity: Decimal
    unit: str  # OpenAI's quantity units: tokens, duration_seconds, characters
    amount: Decimal  # US dollars

    def named(self, model: str) -> str:
        return f"{model}, {self.kind}"


def _per_million(kind: str, tokens: int, rate: Decimal) -> LineItem:
    return LineItem(kind, Decimal(tokens), "tokens", tokens * rate / _MILLION)


class Prices:
    def __init__(self, table: Mapping[str, ModelPrice]) -> None:
        self._table = dict(table)

    def of(self, model: str) -> ModelPrice:
        return self._table.get(model, _FREE)

    def line_items(self, model: str, usage: Usage) -> list[LineItem]:
        """Every kind of use with a quantity, priced (a model without a price costs nothing)."""
        price = self.of(model)
        cached_rate = price.cached_input if price.cached_input is not None else price.input
        audio_rate = price.audio_input if price.audio_input is not None else price.input
        cached_audio_rate = price.cached_audio_input if price.cached_audio_input is not None else audio_rate
        audio_out_rate = price.audio_output if price.audio_output is not None else price.output
        cached_text = usage.input_cached_tokens - usage.input_cached_audio_tokens
        uncached_audio = usage.input_audio_tokens - usage.input_cached_audio_tokens
        text_in = usage.input_tokens - usage.input_audio_tokens - cached_text
        items = [
            _per_million("input", text_in, price.input),
            _per_million("cached input", cached_text, cached_rate),
            _per_million("audio input", uncached_audio, audio_rate),
            _per_million("cached audio input", usage.input_cached_audio_tokens, cached_audio_rate),
            _per_million("output", usage.output_tokens - usage.output_audio_tokens, price.output),
            _per_million("audio output", usage.output_audio_tokens, audio_out_rate),
            LineItem(
                "transcription",
                Decimal(usage.audio_ms_in) / 1000,
                "duration_seconds",
                usage.audio_ms_in * price.transcription_minute / _MS_PER_MINUTE,
            ),
            LineItem(
                "speech",
                Decimal(usage.characters),
                "characters",
                usage.characters * price.speech_characters / _MILLION,
            ),
        ]
        return [item for item in items if item.quantity]

    def cost(self, model: str, usage: Usage) -> Decimal:
        return sum((item.amount for item in self.line_items(model, usage)), Decimal(0))
