"""Generation events -> the chunks of a streamed chat completion: text, or a spoken answer (pcm16)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

from omnivox.chat.plan import ChatPlan
from omnivox.chat.respond import ResponseBuilder
from omnivox.chat.speaking import Speaker, SpokenAnswer, SpokenAudio, SpokenStart, SpokenText
from omnivox.protocol.chat import ChatCompletionChunk, FinishReason
from omnivox.runtimes.chat_model import EventStream, Holdable
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
from omnivox.serving.catalog import ServedVoice
from omnivox.synthesis.service import audio_tokens

T = TypeVar("T")


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


class _Choice:
    """One choice's events out of a generation of several, as an event stream of its own. Cancelling it
    does nothing: the whole generation is cancelled by its reader (`spoken_chunks`), when it ends."""

    def __init__(self, queue: asyncio.Queue[Event | BaseException | None], events: EventStream) -> None:
        self._queue = queue
        self._events = events

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (item := await self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def ready(self) -> None:
        await self._events.ready()

    def cancel(self) -> None:
        pass


async def _calls_first(events: EventStream) -> tuple[bool, EventStream]:
    """Whether an answer that may call tools calls: the model writes text or calls (its grammar sees to
    it), so the first text, call, audio or end says which. The events read are put back in front."""
    rest = aiter(events)
    head: list[Event] = []
    async for event in rest:
        head.append(event)
        if isinstance(event, TextDelta | ToolCallStart | AudioDelta | Finished):
            return isinstance(event, ToolCallStart), _Replayed(head, rest, events)
    return False, _Replayed(head, rest, events)


@dataclass
class _Outcome:
    """What the text side learns while the audio side streams: its end."""

    reason: FinishReason = "stop"


async def _texts(events: EventStream, outcome: _Outcome) -> AsyncIterator[str]:
    async for event in events:
        if isinstance(event, TextDelta):
            yield event.text
        elif isinstance(event, Finished):
            outcome.reason = event.reason


async def _audios(events: EventStream, outcome: _Outcome) -> AsyncIterator[AudioDelta]:
    async for event in events:
        if isinstance(event, AudioDelta):
            yield event
        elif isinstance(event, Finished):
            outcome.reason = event.reason


async def spoken_chunks(
    plan: ChatPlan,
    events: EventStream,
    builder: ResponseBuilder,
    speaker: Speaker,
    *,
    reserved: Ticket | None,
    charge: Callable[[float], None] | None = None,
) -> AsyncIterator[ChatCompletionChunk]:
    """A spoken answer of `plan.n` choices, spoken at once (each chunk carries its index, the choices'
    chunks interleave as they are ready): each choice is spoken as it is generated (`_spoken_choice`),
    its pieces on the voice's worker, which speaks as many texts at once as the voice may
    (`synthesis.parallel`); or, when it calls tools, its calls stream as in a text answer. Then the usage
    (if asked), with the audio tokens of all the choices. `reserved`: the place in our voice's queue,
    held until the end."""
    voice = plan.speech.voice if plan.speech is not None else None  # None: a model that speaks
    # one choice: the model pauses while the voice speaks its first piece (what the listener waits for)
    hold = events if plan.n == 1 and isinstance(events, Holdable) else None
    queues: list[asyncio.Queue[Event | BaseException | None]] = [asyncio.Queue() for _ in range(plan.n)]
    usage: list[UsageReport] = []
    answers: list[SpokenAnswer] = []

    async def pump() -> None:
        try:
            async for event in events:
                if isinstance(event, UsageReport):
                    usage.append(event)
                elif 0 <= event.index < len(queues):
                    queues[event.index].put_nowait(event)
        except BaseException as exc:
            for queue in queues:
                queue.put_nowait(exc)
            raise
        for queue in queues:
            queue.put_nowait(None)

    async def choice(index: int) -> AsyncGenerator[ChatCompletionChunk, None]:
        mine: EventStream = _Choice(queues[index], events)
        calls = False
        if plan.tools is not None:
            calls, mine = await _calls_first(mine)
        chunks = (
            text_chunks(plan, mine, builder)
            if calls
            else _spoken_choice(index, voice, mine, builder, speaker, answers, charge, hold)
        )
        async for chunk in chunks:
            yield chunk

    pumping = asyncio.create_task(pump())
    try:
        async for chunk in _merged([choice(i) for i in range(plan.n)]):
            yield chunk
        await pumping  # raises what the generation raised
        if usage and builder.include_usage:
            yield builder.usage_chunk(usage[-1], sum(audio_tokens(a.seconds) for a in answers))
    finally:
        pumping.cancel()
        events.cancel()
        if reserved is not None:
            reserved.release()


async def _merged(streams: list[AsyncGenerator[T, None]]) -> AsyncIterator[T]:
    """The items of all `streams` as each is ready: each runs in a task of its own, a step ahead of the
    reader at most. The first failure ends it; leaving early closes every stream. One stream is read
    as it is, with no task in between (a single choice pays nothing for this)."""
    if len(streams) == 1:
        async with contextlib.aclosing(streams[0]) as only:
            async for one in only:
                yield one
        return
    ready: asyncio.Queue[tuple[T | None, BaseException | None, bool]] = asyncio.Queue(len(streams))

    async def drain(stream: AsyncGenerator[T, None]) -> None:
        async with contextlib.aclosing(stream):
            try:
                async for item in stream:
                    await ready.put((item, None, False))
            except Exception as exc:
                await ready.put((None, exc, True))
                return
        await ready.put((None, None, True))

    tasks = [asyncio.create_task(drain(s)) for s in streams]
    try:
        running = len(tasks)
        while running:
            item, failure, ended = await ready.get()
            if failure is not None:
                raise failure
            if ended:
                running -= 1
            else:
                yield cast(T, item)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _spoken_choice(
    index: int,
    voice: ServedVoice | None,
    events: EventStream,
    builder: ResponseBuilder,
    speaker: Speaker,
    answers: list[SpokenAnswer],
    charge: Callable[[float], None] | None,
    hold: Holdable | None,
) -> AsyncIterator[ChatCompletionChunk]:
    """One choice: its audio id first; then for each piece its transcript and its pcm16 audio as it is
    synthesised (or, for a model that speaks, as the model produces it); then `expires_at` and the finish
    reason. The Speaker stores the answer (appended to `answers`). The seconds spoken are `charge`d when
    the choice ends, also when it is cut short."""
    outcome = _Outcome()
    items = (
        speaker.stream(voice, _texts(events, outcome), Ticket.covered(), hold=hold)
        if voice is not None
        else speaker.relay(_audios(events, outcome))
    )
    seconds = 0.0
    try:
        async for item in items:
            if isinstance(item, SpokenStart):
                yield builder.audio_start_chunk(item.id, index)
            elif isinstance(item, SpokenText):
                yield builder.audio_chunk(transcript=item.text, index=index)
            elif isinstance(item, SpokenAudio):
                seconds += item.seconds
                yield builder.audio_chunk(data=base64.b64encode(item.pcm).decode(), index=index)
            else:
                answers.append(item)
                yield builder.audio_chunk(expires_at=item.expires_at, index=index)
                yield builder.finish_chunk(index, outcome.reason)
    finally:
        if charge is not None:
            charge(seconds)
