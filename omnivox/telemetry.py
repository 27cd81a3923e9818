"""What /metrics reports, in Prometheus' format (prometheus-client). One `Telemetry` per application, with
a registry of its own (several apps in one process, as in the tests, do not share counters).

The services record what they see (time to first token and first audio, tokens and audio seconds);
queue depth, queue wait and load state are read from the catalog's workers when /metrics is scraped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from omnivox.context import first_output, stages
from omnivox.serving.catalog import ModelCatalog

#: Latency buckets (seconds) for first token / first audio / whole requests on CPU models.
_LATENCY = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
#: Buckets (seconds) for the stages of a spoken answer: from a millisecond (pcm16 of a piece) up.
_STAGE = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: The stages of a spoken chat answer up to its first audio, in order (`omnivox.context.mark`); a whole
#: (non-streamed) answer has `generation` and `synthesis` in place of `first_piece` and `first_synthesis`.
SPOKEN_STAGES = (
    "plan",
    "decode",
    "recognise",
    "prompt",
    "prompt_evaluation",
    "first_token",
    "first_piece",
    "first_synthesis",
    "encoding",
    "respond",
)

log = logging.getLogger("omnivox.telemetry")


class _CatalogCollector(Collector):
    """Queue depth, queue wait and load state of every runtime, read at scrape time."""

    def __init__(self, catalog: ModelCatalog) -> None:
        self._catalog = catalog

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "omnivox_queue_depth", "Requests admitted to a runtime: running + waiting.", labels=["runtime"]
        )
        wait = SummaryMetricFamily(
            "omnivox_queue_wait_seconds", "Time jobs waited for their runtime's thread.", labels=["runtime"]
        )
        loaded = GaugeMetricFamily(
            "omnivox_model_loaded", "1 for each model that is loaded and served.", labels=["model", "kind"]
        )
        for worker in self._catalog.workers():
            depth.add_metric([worker.name], worker.pending)
            count, seconds = worker.waited
            wait.add_metric([worker.name], count_value=count, sum_value=seconds)
        for model in self._catalog.models:
            loaded.add_metric([model.id, "chat"], 1)
        for recognizer in self._catalog.speech:
            loaded.add_metric([recognizer.id, "speech"], 1)
        for voice in self._catalog.voices:
            loaded.add_metric([voice.id, "voice"], 1)
        yield from (depth, wait, loaded)


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "omnivox_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "omnivox_request_duration_seconds",
            "Time from request to the last byte of its response.",
            ["route"],
            buckets=_LATENCY,
            registry=self.registry,
        )
        self.first_tokens = Histogram(
            "omnivox_time_to_first_token_seconds",
            "Chat completions: time from request to the first generated text.",
            ["model"],
            buckets=_LATENCY,
            registry=self.registry,
        )
        self.first_audios = Histogram(
            "omnivox_time_to_first_audio_seconds",
            "Spoken chat answers and /v1/audio/speech: time from request to the first audio.",
            ["endpoint"],
            buckets=_LATENCY,
            registry=self.registry,
        )
        self.spoken_stages = Histogram(
            "omnivox_spoken_stage_seconds",
            f"Spoken chat answers: each stage up to the first audio ({', '.join(SPOKEN_STAGES)}; a whole "
            "answer: generation and synthesis for first_piece and first_synthesis), from the end of the "
            "stage before it; together the time to first audio.",
            ["stage"],
            buckets=_STAGE,
            registry=self.registry,
        )
        self.tokens = Counter(
            "omnivox_tokens",
            "Chat tokens: prompt (cached included), cached, completion.",
            ["model", "kind"],
            registry=self.registry,
        )
        self.audio_seconds = Counter(
            "omnivox_audio_seconds",
            "Seconds of audio heard (in) and spoken (out).",
            ["direction"],
            registry=self.registry,
        )

    def watch(self, catalog: ModelCatalog) -> None:
        self.registry.register(_CatalogCollector(catalog))

    def count_tokens(self, model: str, prompt: int, completion: int, cached: int) -> None:
        self.tokens.labels(model, "prompt").inc(prompt)
        self.tokens.labels(model, "completion").inc(completion)
        self.tokens.labels(model, "cached").inc(cached)

    def first_token(self, model: str) -> None:
        """The current request's first generated text (or tool call): recorded once per request."""
        if (seconds := first_output("token")) is not None:
            self.first_tokens.labels(model).observe(seconds)

    def first_audio(self, endpoint: str) -> None:
        """The current request's first audio (`chat` or `speech`): recorded once per request."""
        if (seconds := first_output("audio")) is None:
            return
        self.first_audios.labels(endpoint).observe(seconds)
        if endpoint == "chat":
            self._stages(seconds)

    def _stages(self, first_audio: float) -> None:
        """The stages of a spoken answer up to its first audio, into the histograms and one debug line;
        `respond`: from the last stage's end to the first audio leaving (building the chunk or answer)."""
        timed = stages()
        timed.append(("respond", max(0.0, first_audio - sum(seconds for _, seconds in timed))))
        for stage, seconds in timed:
            self.spoken_stages.labels(stage).observe(seconds)
        log.debug(
            "first audio after %.0f ms: %s",
            first_audio * 1000,
            ", ".join(f"{stage} {seconds * 1000:.0f} ms" for stage, seconds in timed),
        )

    def heard(self, seconds: float) -> None:
        self.audio_seconds.labels("in").inc(seconds)

    def spoke(self, seconds: float) -> None:
        self.audio_seconds.labels("out").inc(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
