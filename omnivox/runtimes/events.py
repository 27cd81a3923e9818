"""Typed events a chat model produces, in order, for each choice: TextDelta and tool-call events, then
Finished; after the last choice, one UsageReport for the request. Every backend emits this vocabulary, so
the response builder and the speaking stage never see tokens, sampler state or an upstream's wire format."""

from __future__ import annotations

from dataclasses import dataclass

from omnivox.audio.pcm import Audio
from omnivox.protocol.chat import FinishReason


@dataclass(frozen=True, slots=True)
class Alternative:
    token: str
    bytes: bytes
    logprob: float


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One generated token as `logprobs` reports it. `token` is the text the token added to the content
    (pieces concatenate to the content exactly); `bytes` are the token's own UTF-8 bytes, cut like
    `token` where a stop string cut it."""

    token: str
    bytes: bytes
    logprob: float
    top: tuple[Alternative, ...]


@dataclass(frozen=True, slots=True)
class TextDelta:
    index: int  # choice index
    text: str
    logprobs: tuple[TokenLogprob, ...] | None = None  # None unless requested


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """The model began call number `call` (0-based within its choice) of function `name`."""

    index: int  # choice index
    call: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallArguments:
    """A fragment of the JSON arguments of call `call`; the fragments of a call concatenate to its
    arguments exactly."""

    index: int
    call: int
    fragment: str


@dataclass(frozen=True, slots=True)
class AudioDelta:
    """A model that speaks (`Capabilities.speaks_audio`): a piece of its spoken answer and the words said
    in it. omnivox's voices are then not used."""

    index: int
    audio: Audio
    transcript: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The choice ended; `tool_calls` when it called at least one function."""

    index: int
    reason: FinishReason


@dataclass(frozen=True, slots=True)
class UsageReport:
    prompt_tokens: int
    completion_tokens: int  # all choices together
    cached_tokens: int  # prompt tokens served from the runtime's cache
    audio_tokens: int = 0  # prompt tokens standing for audio input


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One whole call, as a non-streamed answer reports it (accumulated from its events)."""

    id: str
    name: str
    arguments: str  # JSON text, as OpenAI sends it


Event = TextDelta | ToolCallStart | ToolCallArguments | AudioDelta | Finished | UsageReport
