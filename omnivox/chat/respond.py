"""Events -> OpenAI wire objects. The only place that builds ChatCompletion and ChatCompletionChunk."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from omnivox.chat.events import TokenLogprob, UsageReport
from omnivox.protocol import chat as wire
from omnivox.protocol.chat import FinishReason

SERVICE_TIER = "default"


@dataclass
class ChoiceResult:
    """One choice of a non-streamed completion, accumulated from its events."""

    text: str = ""
    finish_reason: FinishReason = "stop"
    logprobs: list[TokenLogprob] | None = None  # None unless requested


def usage_of(report: UsageReport) -> wire.Usage:
    return wire.Usage(
        prompt_tokens=report.prompt_tokens,
        completion_tokens=report.completion_tokens,
        total_tokens=report.prompt_tokens + report.completion_tokens,
        prompt_tokens_details=wire.PromptTokensDetails(
            cached_tokens=report.cached_tokens, audio_tokens=report.audio_tokens
        ),
        completion_tokens_details=wire.CompletionTokensDetails(
            reasoning_tokens=0, audio_tokens=0, accepted_prediction_tokens=0, rejected_prediction_tokens=0
        ),
    )


def logprobs_of(entries: Sequence[TokenLogprob] | None) -> wire.ChoiceLogprobs | None:
    if entries is None:
        return None
    return wire.ChoiceLogprobs(
        content=[
            wire.TokenLogprob(
                token=e.token,
                logprob=e.logprob,
                bytes=list(e.bytes),
                top_logprobs=[
                    wire.TopLogprob(token=a.token, logprob=a.logprob, bytes=list(a.bytes)) for a in e.top
                ],
            )
            for e in entries
        ],
        refusal=None,
    )


class ResponseBuilder:
    """Builds the objects of one completion: they share its id, creation time, model and fingerprint."""

    def __init__(self, model_name: str, fingerprint: str, *, include_usage: bool = False) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self._model = model_name
        self._fingerprint = fingerprint
        self._include_usage = include_usage

    def completion(self, choices: Sequence[ChoiceResult], usage: UsageReport) -> wire.ChatCompletion:
        return wire.ChatCompletion(
            id=self.id,
            object="chat.completion",
            created=self.created,
            model=self._model,
            choices=[
                wire.Choice(
                    index=i,
                    message=wire.ResponseMessage(
                        role="assistant", content=c.text, refusal=None, annotations=[]
                    ),
                    logprobs=logprobs_of(c.logprobs),
                    finish_reason=c.finish_reason,
                )
                for i, c in enumerate(choices)
            ],
            usage=usage_of(usage),
            service_tier=SERVICE_TIER,
            system_fingerprint=self._fingerprint,
        )

    def _chunk(
        self, choices: list[wire.ChunkChoice], usage: wire.Usage | None = None
    ) -> wire.ChatCompletionChunk:
        chunk = wire.ChatCompletionChunk(
            id=self.id,
            object="chat.completion.chunk",
            created=self.created,
            model=self._model,
            choices=choices,
            service_tier=SERVICE_TIER,
            system_fingerprint=self._fingerprint,
        )
        if self._include_usage:  # OpenAI then sends `usage: null` on every chunk but the last
            chunk.usage = usage
        return chunk

    def role_chunk(self, index: int) -> wire.ChatCompletionChunk:
        delta = wire.Delta(role="assistant", content="", refusal=None)
        return self._chunk([wire.ChunkChoice(index=index, delta=delta, logprobs=None, finish_reason=None)])

    def text_chunk(
        self, index: int, text: str, logprobs: Sequence[TokenLogprob] | None = None
    ) -> wire.ChatCompletionChunk:
        choice = wire.ChunkChoice(
            index=index, delta=wire.Delta(content=text), logprobs=logprobs_of(logprobs), finish_reason=None
        )
        return self._chunk([choice])

    def finish_chunk(self, index: int, reason: FinishReason) -> wire.ChatCompletionChunk:
        return self._chunk(
            [wire.ChunkChoice(index=index, delta=wire.Delta(), logprobs=None, finish_reason=reason)]
        )

    def usage_chunk(self, report: UsageReport) -> wire.ChatCompletionChunk:
        return self._chunk([], usage_of(report))
