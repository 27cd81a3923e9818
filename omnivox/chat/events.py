"""Typed events the generation loop produces, in order, for each choice: TextDelta*, Finished; after the
last choice, one UsageReport for the request."""

from __future__ import annotations

from dataclasses import dataclass

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
class Finished:
    index: int
    reason: FinishReason


@dataclass(frozen=True, slots=True)
class UsageReport:
    prompt_tokens: int
    completion_tokens: int  # all choices together
    cached_tokens: int  # prompt tokens served from the runtime's cache
    audio_tokens: int = 0  # prompt tokens standing for audio input


Event = TextDelta | Finished | UsageReport
