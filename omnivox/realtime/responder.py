"""One response of a Realtime session: the conversation to the chat model, its words spoken while it
writes, every server event of the response in OpenAI's order, and a clean end however it ends.

The chat model generates on its worker; complete pieces of text (omnivox.synthesis.segmenter) are spoken
on the voice's worker meanwhile, so the first audio leaves after the first piece. The transcript is what
was spoken, piece by piece, each before its audio. Tool calls become `function_call` items with their
argument deltas. Cancelling (the client, or the user speaking: barge-in) stops the model and the voice and
ends the response with `response.done` status `cancelled`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from omnivox.audio.encode import pcm16
from omnivox.audio.g711 import encode_g711
from omnivox.audio.pcm import Audio
from omnivox.errors import OmnivoxError
from omnivox.protocol.realtime import AudioFormat, Truncation
from omnivox.realtime.conversation import Entry
from omnivox.realtime.window import fit
from omnivox.realtime.wire import Event, event, new_id, response_object, usage
from omnivox.runtimes.chat_model import (
    ChatModel,
    EventStream,
    GenerationSpec,
    Holdable,
    held_until_first,
)
from omnivox.runtimes.events import TextDelta, ToolCallArguments, ToolCallStart, UsageReport
from omnivox.runtimes.worker import Ticket
from omnivox.serving.catalog import ServedVoice
from omnivox.synthesis.normalize import for_speech
from omnivox.synthesis.segmenter import Segmenter, spoken
from omnivox.synthesis.service import audio_tokens

Send = Callable[[Event], Awaitable[None]]
DELTA_MS = 100  # audio per `output_audio.delta`: 4.8 KB of pcm16 (6.4 KB base64), far under 1 MiB


class Items(Protocol):
    """The conversation as a response reads and extends it (a `Conversation`, or a speculative
    response's staging of it, omnivox.realtime.speculation)."""

    id: str

    def context(self) -> list[Entry]: ...

    def add(self, entry: Entry) -> str | None: ...

    def leave_out(self, item_ids: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class ResponsePlan:
    """Everything one response needs, resolved from the session and `response.create`."""

    id: str
    model: ChatModel
    spec: GenerationSpec
    instructions: str
    modalities: list[str]
    voice: ServedVoice | None  # None: a text answer
    voice_name: str
    speed: float
    format: AudioFormat
    max_output_tokens: int | str
    metadata: dict[str, str] | None
    in_conversation: bool  # conversation "auto" (False: "none", out of band)
    input: list[Entry] | None = None  # `response.input`: these items instead of the conversation
    truncation: Truncation = "auto"  # the session's: how a conversation longer than the window is cut
    first_words: int | None = None  # the first spoken piece ends after this many words (None: a sentence)


def encode(audio: Audio, fmt: AudioFormat) -> bytes:
    if fmt.type == "audio/pcm":
        return pcm16(audio)
    return encode_g711(audio, "pcmu" if fmt.type == "audio/pcmu" else "pcma")


def bytes_per_ms(fmt: AudioFormat) -> int:
    return 48 if fmt.type == "audio/pcm" else 8


def _speak_piece(
    voice: ServedVoice,
    text: str,
    speed: float,
    hold: Holdable | None,
    cancelled: threading.Event,
) -> Iterator[Audio]:
    """The piece spoken, rewritten first where a voice would misread it (`for_speech`, as chat and
    /v1/audio/speech do); the transcript keeps the text as written. `hold`: the model writing the
    answer, held from the moment the voice starts until it has the piece's first audio."""
    for audio in held_until_first(hold, lambda: voice.runtime.synthesize(for_speech(text), speed=speed)):
        if cancelled.is_set():
            return
        yield audio


@dataclass(slots=True)
class _Output:
    """The response's message item while it is written."""

    entry: Entry
    index: int
    text: list[str] = field(default_factory=list)


class Responder:
    def __init__(self, plan: ResponsePlan, conversation: Items, send: Send) -> None:
        self.plan = plan
        self._conversation = conversation
        self._send = send
        self._outputs: list[dict[str, Any]] = []
        self._message: _Output | None = None
        self._calls: dict[int, tuple[Entry, int]] = {}  # call number -> (item, output index)
        self._stream: EventStream | None = None
        self._spec = plan.spec  # with the answer's limit the window leaves
        self._speech: asyncio.Queue[str | None] = asyncio.Queue()
        self._report: UsageReport | None = None
        self._audio_ms = 0
        self._first_audio: float | None = None  # loop time of the first audio delta
        self._tasks: list[asyncio.Task[None]] = []
        self.cancel_reason: str | None = None

    def _response(self, status: str, **fields: Any) -> dict[str, Any]:
        plan = self.plan
        audio_output = (
            {"format": plan.format.model_dump(exclude_none=True), "voice": plan.voice_name}
            if plan.voice is not None
            else None
        )
        return response_object(
            plan.id,
            status=status,
            modalities=plan.modalities,
            audio_output=audio_output,
            max_output_tokens=plan.max_output_tokens,
            metadata=plan.metadata,
            conversation_id=self._conversation.id if plan.in_conversation else None,
            **fields,
        )

    def playback_left(self) -> float:
        """Seconds of the spoken answer a client playing it in real time has still to play."""
        if self._first_audio is None:
            return 0.0
        played = asyncio.get_running_loop().time() - self._first_audio
        return max(0.0, self._audio_ms / 1000 - played)

    def released(self) -> None:
        """A speculative response's held events have just been sent: its audio starts playing now."""
        if self._first_audio is not None:
            self._first_audio = asyncio.get_running_loop().time()

    def cancel(self, reason: str) -> None:
        """Stop the model and the voice now (on the event loop); `run` then ends the response."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self._stream is not None:
            self._stream.cancel()
        for task in self._tasks:
            task.cancel()

    async def run(self, ticket: Ticket | None) -> None:
        """The whole response. `ticket`: the voice's queue place, released at the end."""
        await self._send(event("response.created", response=self._response("in_progress")))
        generating = asyncio.create_task(self._generate())
        self._tasks.append(generating)
        speaking = None
        if self.plan.voice is not None:
            speaking = asyncio.create_task(self._speak(ticket))
            self._tasks.append(speaking)
        elif ticket is not None:
            ticket.release()
        status, failure = "completed", None
        try:
            await generating
        except asyncio.CancelledError:
            status = "cancelled"
        except Exception as exc:  # the model failed: the response fails, the session goes on
            status, failure = "failed", exc
        await self._speech.put(None)
        if speaking is not None:
            if status != "completed":
                speaking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await speaking
        if self.cancel_reason is not None:
            status = "cancelled"
        await self._finish(status, failure)

    async def _generate(self) -> None:
        plan = self.plan
        entries = plan.input if plan.input is not None else self._conversation.context()
        fitted = await fit(plan.model, plan.instructions, entries, plan.spec, plan.truncation)
        if plan.input is None:
            self._conversation.leave_out(fitted.dropped)
        self._spec = fitted.spec
        if self.cancel_reason is not None:
            raise asyncio.CancelledError
        self._stream = plan.model.generate(fitted.prompt, fitted.spec)
        segmenter = Segmenter(first_words=plan.first_words)
        try:
            async for item in self._stream:
                if isinstance(item, TextDelta):
                    await self._text(item.text, segmenter)
                elif isinstance(item, ToolCallStart):
                    await self._call_started(item)
                elif isinstance(item, ToolCallArguments):
                    await self._call_arguments(item)
                elif isinstance(item, UsageReport):
                    self._report = item
        finally:
            self._stream.cancel()
        if self.cancel_reason is not None:
            raise asyncio.CancelledError
        for piece in spoken(segmenter.flush()):
            await self._speech.put(piece)

    async def _open_message(self) -> _Output:
        if self._message is not None:
            return self._message
        audio = self.plan.voice is not None
        item = {
            "id": new_id("item"),
            "type": "message",
            "object": "realtime.item",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        entry = Entry(item)
        self._message = _Output(entry, len(self._outputs))
        self._outputs.append(item)
        ids = {"response_id": self.plan.id, "item_id": item["id"], "output_index": self._message.index}
        await self._send(
            event(
                "response.output_item.added",
                response_id=self.plan.id,
                output_index=self._message.index,
                item=_copy(item),
            )
        )
        await self._added(entry)
        part = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        await self._send(event("response.content_part.added", content_index=0, part=part, **ids))
        return self._message

    async def _added(self, entry: Entry) -> None:
        if self.plan.in_conversation:
            previous = self._conversation.add(entry)
            await self._send(
                event("conversation.item.added", previous_item_id=previous, item=_copy(entry.item))
            )

    async def _text(self, text: str, segmenter: Segmenter) -> None:
        if not text:
            return
        message = await self._open_message()
        if self.plan.voice is None:
            message.text.append(text)
            await self._send(event("response.output_text.delta", delta=text, **self._ids(message)))
            return
        for piece in spoken(segmenter.feed(text)):
            await self._speech.put(piece)

    def _ids(self, message: _Output) -> dict[str, Any]:
        return {
            "response_id": self.plan.id,
            "item_id": message.entry.item["id"],
            "output_index": message.index,
            "content_index": 0,
        }

    async def _speak(self, ticket: Ticket | None) -> None:
        """Pieces as they come, spoken on the voice's worker; each piece's words, then its audio."""
        voice = self.plan.voice
        assert voice is not None
        try:
            while (piece := await self._speech.get()) is not None:
                message = await self._open_message()
                words = piece if not message.text else " " + piece
                message.text.append(words)
                await self._send(
                    event("response.output_audio_transcript.delta", delta=words, **self._ids(message))
                )
                # the first piece is what the listener waits for: the model pauses while it is spoken
                stream = self._stream
                hold = stream if self._first_audio is None and isinstance(stream, Holdable) else None
                job = functools.partial(_speak_piece, voice, piece, self.plan.speed, hold)
                try:
                    async for audio in voice.worker.submit(job, Ticket.covered()):
                        await self._audio(message, audio)
                finally:
                    if hold is not None:
                        hold.resume()
                message.entry.pieces.append((self._audio_ms, words))
        finally:
            if ticket is not None:
                ticket.release()

    async def _audio(self, message: _Output, audio: Audio) -> None:
        data = encode(audio, self.plan.format)
        if self._first_audio is None:
            self._first_audio = asyncio.get_running_loop().time()
        step = DELTA_MS * bytes_per_ms(self.plan.format)
        for start in range(0, len(data), step):
            chunk = data[start : start + step]
            await self._send(
                event(
                    "response.output_audio.delta",
                    delta=base64.b64encode(chunk).decode(),
                    **self._ids(message),
                )
            )
        self._audio_ms += round(len(data) / bytes_per_ms(self.plan.format))
        message.entry.audio_ms = self._audio_ms

    async def _call_started(self, start: ToolCallStart) -> None:
        call_id = new_id("call")
        item = {
            "id": new_id("item"),
            "type": "function_call",
            "object": "realtime.item",
            "status": "in_progress",
            "call_id": call_id,
            "name": start.name,
            "arguments": "",
        }
        entry = Entry(item)
        index = len(self._outputs)
        self._outputs.append(item)
        self._calls[start.call] = (entry, index)
        await self._send(
            event(
                "response.output_item.added", response_id=self.plan.id, output_index=index, item=_copy(item)
            )
        )
        await self._added(entry)

    async def _call_arguments(self, fragment: ToolCallArguments) -> None:
        entry, index = self._calls[fragment.call]
        entry.item["arguments"] += fragment.fragment
        await self._send(
            event(
                "response.function_call_arguments.delta",
                response_id=self.plan.id,
                item_id=entry.item["id"],
                output_index=index,
                call_id=entry.item["call_id"],
                delta=fragment.fragment,
            )
        )

    async def _finish(self, status: str, failure: Exception | None) -> None:
        """Close what is open (items `incomplete` unless completed), then `response.done` with usage."""
        item_status = "completed" if status == "completed" else "incomplete"
        if self._message is not None:
            await self._close_message(self._message, item_status)
        for entry, index in self._calls.values():
            item = entry.item
            item["status"] = item_status
            await self._send(
                event(
                    "response.function_call_arguments.done",
                    response_id=self.plan.id,
                    item_id=item["id"],
                    output_index=index,
                    call_id=item["call_id"],
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
            await self._item_done(entry, index)
        details: dict[str, Any] | None = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": self.cancel_reason or "client_cancelled"}
        elif status == "failed":
            details = {"type": "failed", "error": _failure(failure)}
        elif self._report is not None and self._length_cut():
            status, details = "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}
        done = self._response(
            status, output=[_copy(o) for o in self._outputs], status_details=details, usage=self._usage()
        )
        await self._send(event("response.done", response=done))

    def _length_cut(self) -> bool:
        limit = self._spec.max_tokens
        return self._report is not None and limit is not None and self._report.completion_tokens >= limit

    async def _close_message(self, message: _Output, item_status: str) -> None:
        ids = self._ids(message)
        text = "".join(message.text)
        if self.plan.voice is not None:
            await self._send(event("response.output_audio.done", **ids))
            await self._send(event("response.output_audio_transcript.done", transcript=text, **ids))
            part = {"type": "audio", "transcript": text}
            content = {"type": "output_audio", "transcript": text}
        else:
            await self._send(event("response.output_text.done", text=text, **ids))
            part = {"type": "text", "text": text}
            content = {"type": "output_text", "text": text}
        await self._send(event("response.content_part.done", part=part, **ids))
        message.entry.item["content"] = [content]
        message.entry.item["status"] = item_status
        await self._item_done(message.entry, message.index)

    async def _item_done(self, entry: Entry, index: int) -> None:
        if self.plan.in_conversation:
            await self._send(event("conversation.item.done", previous_item_id=None, item=_copy(entry.item)))
        await self._send(
            event(
                "response.output_item.done",
                response_id=self.plan.id,
                output_index=index,
                item=_copy(entry.item),
            )
        )

    def _usage(self) -> dict[str, Any]:
        report = self._report or UsageReport(0, 0, 0)
        spoken_tokens = audio_tokens(self._audio_ms / 1000) if self.plan.voice is not None else 0
        text_out = report.completion_tokens
        return usage(
            text_in=report.prompt_tokens - report.audio_tokens,
            audio_in=report.audio_tokens,
            cached=report.cached_tokens,
            text_out=text_out,
            audio_out=spoken_tokens,
        )


def _failure(exc: Exception | None) -> dict[str, Any]:
    """The error of a failed response: an omnivox error keeps its type and code (the window is full:
    `invalid_request_error`, `context_length_exceeded`); anything else is the model's failure."""
    if isinstance(exc, OmnivoxError):
        body = exc.to_body()["error"]
        return {"type": body["type"], "code": body["code"], "message": body["message"]}
    return {"type": "server_error", "code": "model_failure", "message": str(exc)}


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    return {k: [dict(c) for c in v] if k == "content" else v for k, v in item.items()}
