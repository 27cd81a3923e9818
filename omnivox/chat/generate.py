"""The generation loop: prompt tokens in, typed events out. Runs on the model's worker thread.

The runtime gives logits, omnivox's sampler picks each token, text is assembled from token bytes and cut
at stop strings. Generation ends at an end-of-turn token (`stop`), a stop string (`stop`), the token budget
or the context window (`length`), or when the client has gone (`cancelled`, no further events).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from omnivox.chat.events import Event, Finished, TextDelta, UsageReport
from omnivox.protocol.chat import FinishReason
from omnivox.runtimes.base import LanguageModel
from omnivox.sampling.sampler import Sampler, SamplingParams
from omnivox.sampling.text import StopMatcher, Utf8Assembler


@dataclass(frozen=True, slots=True)
class GenerationJob:
    prompt: Sequence[int]
    sampling: SamplingParams
    max_tokens: int | None
    stop: tuple[str, ...]


def generate(runtime: LanguageModel, job: GenerationJob, cancelled: threading.Event) -> Iterator[Event]:
    evaluation = runtime.evaluate(job.prompt)
    logits = evaluation.logits
    sampler = Sampler(job.sampling)
    text, stops = Utf8Assembler(), StopMatcher(job.stop)
    budget = runtime.info.context_window - len(job.prompt)
    if job.max_tokens is not None:
        budget = min(budget, job.max_tokens)
    produced = 0
    reason: FinishReason = "length"
    while produced < budget:
        if cancelled.is_set():
            return
        token = sampler.choose(logits)
        if runtime.is_end_of_generation(token):
            reason = "stop"
            break
        produced += 1
        visible = stops.feed(text.feed(runtime.token_bytes(token)))
        if visible:
            yield TextDelta(0, visible)
        if stops.stopped:
            reason = "stop"
            break
        if produced < budget:
            logits = runtime.append(token)
    tail = stops.feed(text.finish()) + stops.flush()
    if tail:
        yield TextDelta(0, tail)
    yield Finished(0, reason)
    yield UsageReport(len(job.prompt), produced, evaluation.reused_tokens)
