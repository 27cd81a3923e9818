"""Usage as Prometheus counters, per API key label and model (docs/operations.md). The label of a request
made with no key (a server with none configured) is `none`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from omnivox.usage.counts import Surface, Usage
from omnivox.usage.pricing import Prices

NO_KEY_LABEL = "none"


class UsageMetrics:
    def __init__(self, registry: CollectorRegistry, prices: Prices) -> None:
        self._prices = prices
        labels = ["api_key", "model"]
        self.requests = Counter(
            "omnivox_usage_requests",
            "Requests charged, per API key, model and surface (completions, audio_*).",
            [*labels, "surface"],
            registry=registry,
        )
        self.tokens = Counter(
            "omnivox_usage_tokens",
            "Chat tokens charged: input (all), input_cached, input_audio, output (all), output_audio.",
            [*labels, "kind"],
            registry=registry,
        )
        self.audio_seconds = Counter(
            "omnivox_usage_audio_seconds",
            "Audio charged: heard by transcriptions (in), spoken by speech and chat answers (out).",
            [*labels, "direction"],
            registry=registry,
        )
        self.characters = Counter(
            "omnivox_usage_characters", "Characters given to /v1/audio/speech.", labels, registry=registry
        )
        self.cost = Counter(
            "omnivox_usage_cost_usd",
            "What the usage costs at the configured prices.",
            labels,
            registry=registry,
        )

    def observe(self, api_key: str | None, surface: Surface, model: str, usage: Usage) -> None:
        key = api_key or NO_KEY_LABEL
        if usage.requests:
            self.requests.labels(key, model, surface).inc(usage.requests)
        for kind, count in (
            ("input", usage.input_tokens),
            ("input_cached", usage.input_cached_tokens),
            ("input_audio", usage.input_audio_tokens),
            ("output", usage.output_tokens),
            ("output_audio", usage.output_audio_tokens),
        ):
            if count:
                self.tokens.labels(key, model, kind).inc(count)
        for direction, ms in (("in", usage.audio_ms_in), ("out", usage.audio_ms_out)):
            if ms:
                self.audio_seconds.labels(key, model, direction).inc(ms / 1000)
        if usage.characters:
            self.characters.labels(key, model).inc(usage.characters)
        cost = self._prices.cost(model, usage)
        if cost:
            self.cost.labels(key, model).inc(float(cost))
