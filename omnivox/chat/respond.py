"""Events -> OpenAI wire objects. The only place that builds ChatCompletion and ChatCompletionChunk."""

from __future__ import annotations

import time
import uuid

from omnivox.chat.events import UsageReport
from omnivox.protocol.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    CompletionTokensDetails,
    Delta,
    FinishReason,
    PromptTokensDetails,
    ResponseMessage,
    Usage,
)

SERVICE_TIER = "default"


def usage_of(report: UsageReport) -> Usage:
    return Usage(
        prompt_tokens=report.prompt_tokens,
        completion_tokens=report.completion_tokens,
        total_tokens=report.prompt_tokens + report.completion_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=report.cached_tokens, audio_tokens=0),
        completion_tokens_details=CompletionTokensDetails(
            reasoning_tokens=0, audio_tokens=0, accepted_prediction_tokens=0, rejected_prediction_tokens=0
        ),
    )


class ResponseBuilder:
    """Builds the objects of one completion: they share its id, creation time, model and fingerprint."""

    def __init__(self, model_name: str, fingerprint: str, *, include_usage: bool = False) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self._model = model_name
        self._fingerprint = fingerprint
        self._include_usage = include_usage

    def completion(self, texts: list[str], reasons: list[FinishReason], usage: UsageReport) -> ChatCompletion:
        choices = [
            Choice(
                index=i,
                message=ResponseMessage(role="assistant", content=text, refusal=None, annotations=[]),
                logprobs=None,
                finish_reason=reason,
            )
            for i, (text, reason) in enumerate(zip(texts, reasons, strict=True))
        ]
        return ChatCompletion(
            id=self.id,
            object="chat.completion",
            created=self.created,
            model=self._model,
            choices=choices,
            usage=usage_of(usage),
            service_tier=SERVICE_TIER,
            system_fingerprint=self._fingerprint,
        )

    def _chunk(self, choices: list[ChunkChoice], usage: Usage | None = None) -> ChatCompletionChunk:
        chunk = ChatCompletionChunk(
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

    def role_chunk(self, index: int) -> ChatCompletionChunk:
        delta = Delta(role="assistant", content="", refusal=None)
        return self._chunk([ChunkChoice(index=index, delta=delta, logprobs=None, finish_reason=None)])

    def text_chunk(self, index: int, text: str) -> ChatCompletionChunk:
        delta = Delta(content=text)
        return self._chunk([ChunkChoice(index=index, delta=delta, logprobs=None, finish_reason=None)])

    def finish_chunk(self, index: int, reason: FinishReason) -> ChatCompletionChunk:
        return self._chunk([ChunkChoice(index=index, delta=Delta(), logprobs=None, finish_reason=reason)])

    def usage_chunk(self, report: UsageReport) -> ChatCompletionChunk:
        return self._chunk([], usage_of(report))
