"""Typed events the generation loop produces, in order, for each choice: TextDelta*, Finished; then
one UsageReport for the request."""

from __future__ import annotations

from dataclasses import dataclass

from omnivox.protocol.chat import FinishReason


@dataclass(frozen=True, slots=True)
class TextDelta:
    index: int  # choice index
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    index: int
    reason: FinishReason


@dataclass(frozen=True, slots=True)
class UsageReport:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int  # prompt tokens served from the runtime's cache


Event = TextDelta | Finished | UsageReport
