"""Events -> OpenAI wire objects. The only place that builds ChatCompletion and ChatCompletionChunk."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from omnivox.chat.speaking import SpokenAnswer
from omnivox.protocol import chat as wire
from omnivox.protocol.chat import FinishReason
from omnivox.runtimes.events import TokenLogprob, ToolCall, UsageReport
from omnivox.synthesis.service import audio_tokens

SERVICE_TIER = "default"


@dataclass
class ChoiceResult:
    """One choice of a non-streamed completion, accumulated from its events."""

    text: str = ""
    finish_reason: FinishReason = "stop"
    logprobs: list[TokenLogprob] | None = None  # None unless requested
    audio: SpokenAnswer | None = None  # the spoken answer, when audio output was asked for
    tool_calls: list[ToolCall] = field(default_factory=list)  # the calls the model made


def usage_of(report: UsageReport, output_audio_tokens: int = 0) -> wire.Usage:
    """Usage; a spoken answer adds its audio tokens (omnivox.synthesis.service.audio_tokens) to the
    completion tokens, beside the text tokens the model generated."""
    completion = report.completion_tokens + output_audio_tokens
    return wire.Usage(
        prompt_tokens=report.prompt_tokens,
        completion_tokens=completion,
        total_tokens=report.prompt_tokens + completion,
        prompt_tokens_details=wire.PromptTokensDetails(
            cached_tokens=report.cached_tokens, audio_tokens=report.audio_tokens
        ),
        completion_tokens_details=wire.CompletionTokensDetails(
            reasoning_tokens=0,
            audio_tokens=output_audio_tokens,
            text_tokens=report.completion_tokens,
            accepted_prediction_tokens=0,
            rejected_prediction_tokens=0,
        ),
    )


def message_of(choice: ChoiceResult) -> wire.ResponseMessage:
    if choice.tool_calls:
        calls = [
            wire.MessageToolCall(
                id=c.id, type="function", function=wire.FunctionCall(name=c.name, arguments=c.arguments)
            )
            for c in choice.tool_calls
        ]
        return wire.ResponseMessage(
            role="assistant", content=None, refusal=None, annotations=[], tool_calls=calls
        )
    if choice.audio is None:
        return wire.ResponseMessage(role="assistant", content=choice.text, refusal=None, annotations=[])
    spoken = choice.audio
    audio = wire.MessageAudio(
        id=spoken.id,
        data=base64.b64encode(spoken.data).decode(),
        expires_at=spoken.expires_at,
        transcript=spoken.transcript,
    )
    return wire.ResponseMessage(role="assistant", content=None, refusal=None, annotations=[], audio=audio)


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

    @property
    def include_usage(self) -> bool:
        return self._include_usage

    def completion(self, choices: Sequence[ChoiceResult], usage: UsageReport) -> wire.ChatCompletion:
        return wire.ChatCompletion(
            id=self.id,
            object="chat.completion",
            created=self.created,
            model=self._model,
            choices=[
                wire.Choice(
                    index=i,
                    message=message_of(c),
                    logprobs=logprobs_of(c.logprobs),
                    finish_reason=c.finish_reason,
                )
                for i, c in enumerate(choices)
            ],
            usage=usage_of(usage, sum(audio_tokens(c.audio.seconds) for c in choices if c.audio)),
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

    def usage_chunk(self, report: UsageReport, output_audio_tokens: int = 0) -> wire.ChatCompletionChunk:
        return self._chunk([], usage_of(report, output_audio_tokens))

    def tool_call_chunk(
        self, index: int, call: int, *, start: tuple[str, str] | None = None, arguments: str | None = None
    ) -> wire.ChatCompletionChunk:
        """A call's first delta (`start` = (id, name)), or a fragment of its arguments."""
        if start is not None:
            delta_call = wire.DeltaToolCall(
                index=call,
                id=start[0],
                type="function",
                function=wire.DeltaFunction(name=start[1], arguments=""),
            )
        else:
            delta_call = wire.DeltaToolCall(index=call, function=wire.DeltaFunction(arguments=arguments))
        delta = wire.Delta(tool_calls=[delta_call])
        return self._chunk([wire.ChunkChoice(index=index, delta=delta, logprobs=None, finish_reason=None)])

    def audio_start_chunk(self, audio_id: str, index: int = 0) -> wire.ChatCompletionChunk:
        """First chunk of a choice's spoken answer: the role, no text content, the audio id."""
        delta = wire.Delta(role="assistant", content=None, refusal=None, audio=wire.DeltaAudio(id=audio_id))
        return self._chunk([wire.ChunkChoice(index=index, delta=delta, logprobs=None, finish_reason=None)])

    def audio_chunk(
        self,
        *,
        transcript: str | None = None,
        data: str | None = None,
        expires_at: int | None = None,
        index: int = 0,
    ) -> wire.ChatCompletionChunk:
        fields = {"transcript": transcript, "data": data, "expires_at": expires_at}
        audio = wire.DeltaAudio(**{k: v for k, v in fields.items() if v is not None})
        delta = wire.Delta(audio=audio)
        return self._chunk([wire.ChunkChoice(index=index, delta=delta, logprobs=None, finish_reason=None)])
