"""Generation events -> the chunks of a streamed chat completion: text, or a spoken answer (pcm16)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from omnivox.chat.plan import ChatPlan, SpeechPlan
from omnivox.chat.respond import ResponseBuilder
from omnivox.chat.speaking import Speaker, SpokenAudio, SpokenStart, SpokenText
from omnivox.protocol.chat import ChatCompletionChunk, FinishReason
from omnivox.runtimes.chat_model import EventStream
from omnivox.runtimes.events import (
    AudioDelta,
    Event,
    Finished,
    TextDelta,
    ToolCallArguments,
    ToolCallStart,
    UsageReport,
)
from omnivox.runtimes.worker import Ticket
from omnivox.synthesis.service import audio_tokens


async def text_chunks(
    plan: ChatPlan, events: EventStream, builder: ResponseBuilder
) -> AsyncIterator[ChatCompletionChunk]:
    """Text as text deltas; calls as delta.tool_calls (id, type and name first, then argument fragments
    as they are generated); each choice's finish reason as its model reported it."""
    started: set[int] = set()
    try:
        async for event in events:
            if isinstance(event, UsageReport):
                if plan.include_usage:
                    yield builder.usage_chunk(event)
                continue
            if isinstance(event, AudioDelta):  # audio nobody asked for
                continue
            if event.index not in started:
                started.add(event.index)
                yield builder.role_chunk(event.index)
            if isinstance(event, TextDelta):
                yield builder.text_chunk(event.index, event.text, event.logprobs)
            elif isinstance(event, ToolCallStart):
                yield builder.tool_call_chunk(event.index, event.call, start=(event.id, event.name))
            elif isinstance(event, ToolCallArguments):
                yield builder.tool_call_chunk(event.index, event.call, arguments=event.fragment)
            else:
                yield builder.finish_chunk(event.index, event.reason)
    finally:
        events.cancel()


class _Replayed:
    """An event stream whose first events were read already (to see what kind of answer it is): they
    come again first, then the rest."""

    def __init__(self, head: Sequence[Event], rest: AsyncIterator[Event], events: EventStream) -> None:
        self._head = head
        self._rest = rest
        self._events = events

    async def __aiter__(self) -> AsyncIterator[Event]:
        for event in self._head:
            yield event
        async for event in self._rest:
            yield event

    async def ready(self) -> None:
        await self._events.ready()

    def cancel(self) -> None:
        self._events.cancel()


async def spoken_or_called_chunks(
    plan: ChatPlan,
    speech: SpeechPlan,
    events: EventStream,
    builder: ResponseBuilder,
    speaker: Speaker,
    *,
    reserved: Ticket | None,
    charge: Callable[[float], None] | None = None,
) -> AsyncIterator[ChatCompletionChunk]:
    """A spoken answer that may call tools. The model writes text or calls (its grammar sees to it), so
    the first event that is either says which: a text answer is spoken (`spoken_chunks`); calls stream
    as `delta.tool_calls` like a text answer's, with no audio (the turn after the tool results is
    spoken), and the place in the voice's queue is given back."""
    rest = aiter(events)
    head: list[Event] = []
    calls = False
    try:
        async for event in rest:
            head.append(event)
            if isinstance(event, TextDelta | ToolCallStart | AudioDelta | Finished):
                calls = isinstance(event, ToolCallStart)
                break
    except BaseException:
        events.cancel()
        if reserved is not None:
            reserved.release()
        raise
    replayed = _Replayed(head, rest, events)
    if calls:
        if reserved is not None:
            reserved.release()
        chunks = text_chunks(plan, replayed, builder)
    else:
        chunks = spoken_chunks(speech, replayed, builder, speaker, reserved=reserved, charge=charge)
    async for chunk in chunks:
        yield chunk


@dataclass
class _Outcome:
    """What the text side learns while the audio side streams: its end and its usage."""

    reason: FinishReason = "stop"
    usage: UsageReport | None = None


async def _texts(events: EventStream, outcome: _Outcome) -> AsyncIterator[str]:
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                yield event.text
            elif isinstance(event, Finished):
                outcome.reason = event.reason
            elif isinstance(event, UsageReport):
                outcome.usage = event
    finally:
        events.cancel()


async def _audios(events: EventStream, outcome: _Outcome) -> AsyncIterator[AudioDelta]:
    try:
        async for event in events:
            if isinstance(event, AudioDelta):
                yield event
            elif isinstance(event, Finished):
                outcome.reason = event.reason
            elif isinstance(event, UsageReport):
                outcome.usage = event
    finally:
        events.cancel()


async def spoken_chunks(
    speech: SpeechPlan,
    events: EventStream,
    builder: ResponseBuilder,
    speaker: Speaker,
    *,
    reserved: Ticket | None,
    charge: Callable[[float], None] | None = None,
) -> AsyncIterator[ChatCompletionChunk]:
    """The id first; then for each piece its transcript and its pcm16 audio as it is synthesised (or, for
    a model that speaks, as the model produces it); then `expires_at`, the finish reason and (if asked)
    the usage. The Speaker stores the answer. `reserved`: the place in our voice's queue. The seconds
    spoken are `charge`d when the stream ends, also when it is cut short."""
    outcome = _Outcome()
    if speech.voice is not None and reserved is not None:
        items = speaker.stream(speech.voice, _texts(events, outcome), reserved)
    else:
        items = speaker.relay(_audios(events, outcome))
    seconds = 0.0
    try:
        async for item in items:
            if isinstance(item, SpokenStart):
                yield builder.audio_start_chunk(item.id)
            elif isinstance(item, SpokenText):
                yield builder.audio_chunk(transcript=item.text)
            elif isinstance(item, SpokenAudio):
                seconds += item.seconds
                yield builder.audio_chunk(data=base64.b64encode(item.pcm).decode())
            else:
                yield builder.audio_chunk(expires_at=item.expires_at)
                yield builder.finish_chunk(0, outcome.reason)
                if outcome.usage is not None and builder.include_usage:
                    yield builder.usage_chunk(outcome.usage, audio_tokens(item.seconds))
    finally:
        if charge is not None:
            charge(seconds)
