"""Generation events -> the chunks of a streamed chat completion: text, or a spoken answer (pcm16)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from omnivox.chat.events import Event, Finished, TextDelta, UsageReport
from omnivox.chat.plan import ChatPlan, SpeechPlan
from omnivox.chat.respond import ResponseBuilder
from omnivox.chat.speaking import Speaker, SpokenAnswer, SpokenAudio, SpokenText
from omnivox.chat.tools import CallStart, CallStreamer, StreamItem, TextOut
from omnivox.protocol.chat import ChatCompletionChunk, FinishReason
from omnivox.runtimes.worker import JobStream
from omnivox.synthesis.service import audio_tokens


async def text_chunks(
    plan: ChatPlan, events: JobStream[Event], builder: ResponseBuilder
) -> AsyncIterator[ChatCompletionChunk]:
    started: set[int] = set()
    try:
        async for event in events:
            if isinstance(event, TextDelta | Finished) and event.index not in started:
                started.add(event.index)
                yield builder.role_chunk(event.index)
            if isinstance(event, TextDelta):
                yield builder.text_chunk(event.index, event.text, event.logprobs)
            elif isinstance(event, Finished):
                yield builder.finish_chunk(event.index, event.reason)
            elif plan.include_usage:
                yield builder.usage_chunk(event)
    finally:
        events.cancel()


async def tool_chunks(
    plan: ChatPlan, events: JobStream[Event], builder: ResponseBuilder
) -> AsyncIterator[ChatCompletionChunk]:
    """Text as text deltas; calls as delta.tool_calls: id, type and name first, then argument fragments
    as they are generated; the choice finishes with `tool_calls` when it called."""
    streamers: dict[int, CallStreamer] = {}
    called: set[int] = set()
    try:
        async for event in events:
            if isinstance(event, TextDelta | Finished) and event.index not in streamers:
                streamers[event.index] = CallStreamer()
                yield builder.role_chunk(event.index)
            if isinstance(event, TextDelta):
                for item in streamers[event.index].feed(event.text):
                    yield _tool_item(builder, event.index, item, called)
            elif isinstance(event, Finished):
                for item in streamers[event.index].finish():
                    yield _tool_item(builder, event.index, item, called)
                yield builder.finish_chunk(
                    event.index, "tool_calls" if event.index in called else event.reason
                )
            elif plan.include_usage:
                yield builder.usage_chunk(event)
    finally:
        events.cancel()


def _tool_item(
    builder: ResponseBuilder, index: int, item: StreamItem, called: set[int]
) -> ChatCompletionChunk:
    if isinstance(item, TextOut):
        return builder.text_chunk(index, item.text)
    if isinstance(item, CallStart):
        called.add(index)
        return builder.tool_call_chunk(index, item.index, start=(item.id, item.name))
    return builder.tool_call_chunk(index, item.index, arguments=item.fragment)


@dataclass
class _Outcome:
    """What the text side learns while the audio side streams: its end and its usage."""

    reason: FinishReason = "stop"
    usage: UsageReport | None = None


async def _texts(events: JobStream[Event], outcome: _Outcome) -> AsyncIterator[str]:
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                yield event.text
            elif isinstance(event, Finished):
                outcome.reason = event.reason
            else:
                outcome.usage = event
    finally:
        events.cancel()


async def spoken_chunks(
    speech: SpeechPlan,
    events: JobStream[Event],
    builder: ResponseBuilder,
    speaker: Speaker,
    *,
    received: float,
    charge: Callable[[float], None],
) -> AsyncIterator[ChatCompletionChunk]:
    """The id first; then for each piece its transcript and its pcm16 audio as it is synthesised; then
    `expires_at`, the finish reason and (if asked) the usage. The answer is stored at the end; the seconds
    spoken are `charge`d when the stream ends, also when it is cut short."""
    outcome = _Outcome()
    audio_id, expires_at = speaker.new_id(), speaker.expires_at()
    transcript, pcm, seconds = [], [], 0.0
    try:
        yield builder.audio_start_chunk(audio_id)
        async for item in speaker.stream(speech, _texts(events, outcome), received):
            if isinstance(item, SpokenText):
                transcript.append(item.text)
                yield builder.audio_chunk(transcript=item.text)
            elif isinstance(item, SpokenAudio):
                pcm.append(item.pcm)
                seconds += item.seconds
                yield builder.audio_chunk(data=base64.b64encode(item.pcm).decode())
        await speaker.keep(
            SpokenAnswer(audio_id, "".join(transcript), b"".join(pcm), expires_at, seconds), "pcm16"
        )
        yield builder.audio_chunk(expires_at=expires_at)
        yield builder.finish_chunk(0, outcome.reason)
        if outcome.usage is not None and builder.include_usage:
            yield builder.usage_chunk(outcome.usage, audio_tokens(seconds))
    finally:
        charge(seconds)
