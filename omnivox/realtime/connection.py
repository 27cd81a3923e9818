"""One Realtime connection: client events in, server events out.

`handle` takes each client event in order on the connection's reader task; what takes long (recognition,
the response) runs in tasks of its own, so pings, appends and barge-in are served while a model works.
Server events leave through the `Outbox`, one writer, in the order they were put; when a response is
cancelled its audio deltas still queued are dropped, so no audio of it reaches the client after the
cancel. Every refused client event is one `error` event carrying the client's `event_id`; the connection
goes on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
import numpy as np

from omnivox.errors import InvalidRequest, OmnivoxError
from omnivox.protocol.realtime import Item, ResponseParams, SemanticVad, ServerVad
from omnivox.realtime.conversation import Conversation, Entry
from omnivox.realtime.hearing import EarlyHearing, Heard, Recognition, finished
from omnivox.realtime.inputs import RATE, InputBuffer, Samples, decode_audio
from omnivox.realtime.outbox import Outbox
from omnivox.realtime.planning import Planner
from omnivox.realtime.responder import Responder
from omnivox.realtime.session import Session, parsed
from omnivox.realtime.speculation import DeferredUsage, HeldEvents, Speculation, Staging
from omnivox.realtime.vad import (
    EAGERNESS_MS,
    Pause,
    Resumed,
    SpeechStarted,
    TurnDetector,
    TurnEvent,
    VadParams,
)
from omnivox.realtime.wire import Event, error, event, new_id

#: With turn detection, silence beyond the prefix padding is dropped from the buffer, but for this much
#: more (the detector sees speech up to a frame late).
KEPT_SILENCE_MS = 100


def vad_params(turn: ServerVad | SemanticVad) -> VadParams:
    if isinstance(turn, ServerVad):
        return VadParams(turn.threshold, turn.prefix_padding_ms, turn.silence_duration_ms)
    done, longest = EAGERNESS_MS[turn.eagerness]
    return VadParams(0.5, 300, done, longest)


class Connection:
    def __init__(
        self,
        session: Session,
        planner: Planner,
        recognition: Recognition,
        outbox: Outbox,
        detector: Callable[[VadParams], TurnDetector],
        *,
        max_items: int,
        max_buffer_seconds: float,
        early_recognition: bool = True,
        speculative: bool = True,
    ) -> None:
        self.session = session
        self.outbox = outbox
        self._planner = planner
        self._recognition = recognition
        self._conversation = Conversation(max_items)
        self._buffer = InputBuffer(max_buffer_seconds)
        self._make_detector = detector
        self._detector: TurnDetector | None = None
        self._speech_item: str | None = None  # the id the user item of the speech under way will have
        self._early = EarlyHearing(self._hear_turn, self._heard_early)
        self._early_always = early_recognition  # False: only semantic_vad recognises at pauses
        self._speculative = speculative  # answer at pauses, the events held until the turn ends
        self._speculation: Speculation | None = None
        self._active: tuple[Responder, asyncio.Task[None]] | None = None
        self._idle: asyncio.TimerHandle | None = None  # server_vad's idle_timeout_ms, once armed
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.retrieve": self._item_retrieve,
            "conversation.item.truncate": self._item_truncate,
            "conversation.item.delete": self._item_delete,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
            "output_audio_buffer.clear": self._webrtc_only,
        }
        self._configure_vad()

    async def start(self) -> None:
        await self._send(event("session.created", session=self.session.wire()))

    async def _send(self, item: Event) -> None:
        await self.outbox.put(item)

    async def handle(self, message: Any) -> None:
        """One client event (parsed JSON); a refusal becomes an error event naming its `event_id`."""
        client_id = message.get("event_id") if isinstance(message, dict) else None
        try:
            if not isinstance(message, dict):
                raise InvalidRequest("Expected a JSON object.", param=None, code="invalid_event")
            kind = message.get("type")
            handler = self._handlers.get(kind) if isinstance(kind, str) else None
            if handler is None:
                raise InvalidRequest(
                    f"Invalid value: {kind!r}. Supported values are: {', '.join(map(repr, self._handlers))}.",
                    param="type",
                    code="invalid_value",
                )
            if kind not in _UNCHANGING:  # the session or the buffer may change: answer the turn afresh
                self._drop_speculation()
            await handler(message)
        except OmnivoxError as exc:
            await self._send(error(exc, client_id if isinstance(client_id, str) else None))

    async def close(self) -> None:
        """The client left: stop the response and the recognitions."""
        self.outbox.closed = True
        self._early.close()
        self._drop_speculation()
        self._disarm_idle()
        if self._active is not None:
            self._active[0].cancel("client_cancelled")
        for task in [*self._tasks, *([self._active[1]] if self._active else [])]:
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    # -- session -------------------------------------------------------------------------------------

    async def _session_update(self, message: dict[str, Any]) -> None:
        _fields(message, "session")
        self.session.update(message.get("session"))
        self._configure_vad()
        await self._send(event("session.updated", session=self.session.wire()))

    def _configure_vad(self) -> None:
        turn = self.session.config.audio.input.turn_detection
        if turn is None:
            self._detector = None
            return
        if self._detector is None:
            self._detector = self._make_detector(vad_params(turn))
            self._detector.reset(self._buffer.end_ms)
        else:
            self._detector.configure(vad_params(turn))

    async def _webrtc_only(self, message: dict[str, Any]) -> None:
        raise InvalidRequest(
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections.",
            param="type",
            code="invalid_value",
        )

    # -- input audio ----------------------------------------------------------------------------------

    async def _append(self, message: dict[str, Any]) -> None:
        _fields(message, "audio")
        data = message.get("audio")
        if not isinstance(data, str):
            raise InvalidRequest(
                "Missing required parameter: 'audio'.", param="audio", code="missing_required_parameter"
            )
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(
                "Invalid 'audio': not base64.", param="audio", code="invalid_value"
            ) from None
        samples = decode_audio(raw, self.session.config.audio.input.format)
        self._buffer.append(samples)
        detector = self._detector
        if detector is not None:
            for turn in await anyio.to_thread.run_sync(detector.feed, samples):
                await self._turn(turn)
            if not detector.speaking:  # silence before speech: keep only what the next turn may pad with
                self._buffer.drop_before(self._buffer.end_ms - detector.prefix_padding_ms - KEPT_SILENCE_MS)

    async def _turn(self, turn: TurnEvent) -> None:
        if isinstance(turn, SpeechStarted):
            self._disarm_idle()
            self._speech_item = new_id("item")
            config = self.session.config.audio.input.turn_detection
            if self._active is not None and config is not None and config.interrupt_response:
                self._cancel("turn_detected")
            await self._send(
                event(
                    "input_audio_buffer.speech_started",
                    audio_start_ms=turn.audio_start_ms,
                    item_id=self._speech_item,
                )
            )
            self._buffer.drop_before(turn.audio_start_ms)
            self._early.reset()
            self._drop_speculation()
            task = asyncio.create_task(self._planner.prefill(self.session, self._conversation))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        if isinstance(turn, Pause):  # recognise the turn so far while the user may still speak on
            speculate = self._speculating()
            if speculate or self._early_always or isinstance(self._turn_detection(), SemanticVad):
                self._early.pause(turn.at_ms, self._buffer.peek(turn.at_ms))
            if speculate:
                self._speculate(turn)
            return
        if isinstance(turn, Resumed):  # that pause was not the end: what was started for it is dropped
            self._drop_speculation()
            return
        item_id = self._speech_item or new_id("item")
        await self._send(
            event("input_audio_buffer.speech_stopped", audio_end_ms=turn.audio_end_ms, item_id=item_id)
        )
        early = self._early.heard_until(turn.speech_end_ms)
        samples = self._buffer.take(turn.audio_end_ms)
        config = self._turn_detection()
        respond = config is not None and config.create_response and self._active is None
        speculation, self._speculation = self._speculation, None
        if speculation is not None:
            failed = speculation.events.ended() in ("failed", "cancelled")  # answered afresh below
            if respond and early is speculation.early and not failed:
                await self._release(speculation, item_id, samples)
                return
            speculation.drop()
        await self._commit_buffer(item_id, samples, early)
        if respond:
            await self._start_response(ResponseParams())

    # -- speculative responses ------------------------------------------------------------------------

    def _turn_detection(self) -> ServerVad | SemanticVad | None:
        return self.session.config.audio.input.turn_detection

    def _speculating(self) -> bool:
        """Whether a pause now starts a speculative response: turn detection that creates responses,
        none active (barge-in: the cancelled one may still be ending) and none speculated yet."""
        config = self._turn_detection()
        return (
            self._speculative
            and config is not None
            and config.create_response
            and self._active is None
            and self._speculation is None
            and self._speech_item is not None
        )

    def _speculate(self, pause: Pause) -> None:
        """Start answering the turn heard up to `pause`, its events held (omnivox.realtime.speculation)."""
        latest = self._early.latest()
        if latest is None or latest[0] != pause.at_ms or self._speech_item is None:
            return
        cut, early = latest
        loop = asyncio.get_running_loop()
        turn = Entry(_user_audio_item(self._speech_item))
        heard: asyncio.Future[str] = loop.create_future()
        turn.heard = heard
        early.add_done_callback(functools.partial(_words_of, heard))
        try:
            plan, ticket = self._planner.plan(self.session, ResponseParams(), self._conversation, admit=False)
        except OmnivoxError:  # the voice's queue is full: the turn is answered when it ends
            return
        assert plan.spec.on_usage is not None
        usage = DeferredUsage(plan.spec.on_usage)
        plan = dataclasses.replace(plan, spec=dataclasses.replace(plan.spec, on_usage=usage))
        events = HeldEvents(self._send)
        staging = Staging(self._conversation, turn)
        responder = Responder(plan, staging, events)
        task = asyncio.create_task(self._respond(responder, ticket))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._speculation = Speculation(cut, turn, early, responder, task, events, staging, usage)

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            self._speculation.drop()
            self._speculation = None

    async def _release(
        self, speculation: Speculation, item_id: str, samples: np.ndarray[Any, np.dtype[np.float32]]
    ) -> None:
        """The pause was the end of the turn: the turn's events, then the response's, held until now."""
        try:
            self._planner.admit()
        except OmnivoxError:  # over the rate limit: the turn is committed, the response refused
            speculation.drop()
            await self._commit_buffer(item_id, samples, speculation.early)
            raise
        waiting = speculation.turn.heard  # what the response reads: the commit's own recognition now
        await self._commit_buffer(item_id, samples, speculation.early, speculation.turn)
        heard = speculation.turn.heard
        if waiting is not None and heard is not None and not waiting.done():
            heard.add_done_callback(functools.partial(_pass_on, waiting))
        speculation.staging.commit()
        speculation.usage.release()
        responder = speculation.responder
        if responder.plan.voice is not None:
            self.session.voiced = True
        self._disarm_idle()
        self._active = (responder, speculation.task)
        await speculation.events.release()
        responder.released()
        if speculation.task.done() and self._active is not None and self._active[0] is responder:
            self._active = None  # it ended before its release: `_respond` did not see it active
            self._arm_idle(responder)

    async def _commit(self, message: dict[str, Any]) -> None:
        _fields(message)
        if self._buffer.ms < 100:
            raise InvalidRequest(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {self._buffer.ms:.2f}ms of audio.",
                param=None,
                code="input_audio_buffer_commit_empty",
            )
        item_id = self._speech_item or new_id("item")
        self._disarm_idle()
        await self._commit_buffer(item_id, self._buffer.take(self._buffer.end_ms))
        if self._detector is not None:
            self._detector.reset(self._buffer.end_ms)

    async def _hear_turn(self, samples: Samples) -> Heard:
        """A user turn's words, with the recogniser, language and prompt the session gives for its
        transcription (when the turn is heard: a later `session.update` counts from then on)."""
        transcription = self.session.config.audio.input.transcription
        if transcription is None:
            return await self._recognition.hear(samples)
        return await self._recognition.hear(
            samples,
            model=transcription.model,
            language=transcription.language,
            prompt=transcription.prompt,
        )

    def _heard_early(self, cut: int, words: str) -> None:
        done = finished(words)
        if self._detector is not None:
            self._detector.hint(cut, done)
        speculation = self._speculation
        semantic = isinstance(self._turn_detection(), SemanticVad)
        if speculation is not None and speculation.cut == cut and semantic and not done:
            self._drop_speculation()  # these words do not end the turn: semantic_vad waits on

    async def _commit_buffer(
        self,
        item_id: str,
        samples: np.ndarray[Any, np.dtype[np.float32]],
        early: asyncio.Future[Heard] | None = None,
        entry: Entry | None = None,
    ) -> None:
        """The user audio item, committed; its transcript events follow at once when `early` (the
        recognition made at a pause) is done, else when it or a recognition of `samples` is."""
        self._speech_item = None
        entry = entry or Entry(_user_audio_item(item_id))
        previous = self._conversation.add(entry)
        await self._send(event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id))
        await self._added(entry, previous)
        if early is not None and early.done() and not early.cancelled() and early.exception() is None:
            entry.heard = asyncio.get_running_loop().create_future()
            await self._recognise(entry, 0, samples, early)
        else:
            self._hear(entry, 0, samples, early)

    async def _clear(self, message: dict[str, Any]) -> None:
        _fields(message)
        self._buffer.take(self._buffer.end_ms)
        self._speech_item = None
        if self._detector is not None:
            self._detector.reset(self._buffer.end_ms)
        await self._send(event("input_audio_buffer.cleared"))

    def _hear(
        self,
        entry: Entry,
        index: int,
        samples: np.ndarray[Any, np.dtype[np.float32]],
        early: asyncio.Future[Heard] | None = None,
    ) -> None:
        """Recognise a user audio part in a task (or take `early`, the recognition of all its speech
        made while the user paused); its transcript events when the session asks for them."""
        entry.heard = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._recognise(entry, index, samples, early))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recognise(
        self,
        entry: Entry,
        index: int,
        samples: np.ndarray[Any, np.dtype[np.float32]],
        early: asyncio.Future[Heard] | None,
    ) -> None:
        assert entry.heard is not None
        wanted = self.session.config.audio.input.transcription is not None
        item_id = entry.item["id"]
        try:
            text, seconds = await _heard(early, self._hear_turn, samples)
        except Exception as exc:  # recognition failed: the item stays, heard as nothing
            entry.heard.set_result("")
            if wanted:
                await self._send(
                    event(
                        "conversation.item.input_audio_transcription.failed",
                        item_id=item_id,
                        content_index=index,
                        error={"type": "server_error", "message": str(exc)},
                    )
                )
            return
        entry.item["content"][index]["transcript"] = text
        entry.heard.set_result(text)
        if wanted:
            ids = {"item_id": item_id, "content_index": index}
            await self._send(event("conversation.item.input_audio_transcription.delta", delta=text, **ids))
            await self._send(
                event(
                    "conversation.item.input_audio_transcription.completed",
                    transcript=text,
                    usage={"type": "duration", "seconds": round(seconds, 3)},
                    **ids,
                )
            )

    # -- conversation items --------------------------------------------------------------------------

    async def _added(self, entry: Entry, previous: str | None) -> None:
        await self._send(event("conversation.item.added", previous_item_id=previous, item=_wire(entry)))
        await self._send(event("conversation.item.done", previous_item_id=previous, item=_wire(entry)))

    async def _item_create(self, message: dict[str, Any]) -> None:
        _fields(message, "item", "previous_item_id")
        item = parsed(Item, message.get("item"), "item")
        entry, audio = self._planner.entry(item, self.session.config.audio.input.format)
        previous = self._conversation.add(entry, message.get("previous_item_id"))
        await self._added(entry, previous)
        for index, samples in audio:
            self._hear(entry, index, samples)

    async def _item_retrieve(self, message: dict[str, Any]) -> None:
        _fields(message, "item_id")
        entry = self._conversation.get(_item_id(message))
        await self._send(event("conversation.item.retrieved", item=_wire(entry)))

    async def _item_truncate(self, message: dict[str, Any]) -> None:
        _fields(message, "item_id", "content_index", "audio_end_ms")
        item_id, index, end = _item_id(message), message.get("content_index"), message.get("audio_end_ms")
        for name, value in (("content_index", index), ("audio_end_ms", end)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidRequest(
                    f"Invalid '{name}': expected a non-negative integer.", param=name, code="invalid_value"
                )
        assert isinstance(index, int) and isinstance(end, int)
        self._conversation.truncate(item_id, index, end)
        await self._send(
            event("conversation.item.truncated", item_id=item_id, content_index=index, audio_end_ms=end)
        )

    async def _item_delete(self, message: dict[str, Any]) -> None:
        _fields(message, "item_id")
        item_id = _item_id(message)
        self._conversation.delete(item_id)
        await self._send(event("conversation.item.deleted", item_id=item_id))

    # -- responses -----------------------------------------------------------------------------------

    async def _response_create(self, message: dict[str, Any]) -> None:
        _fields(message, "response")
        params = parsed(ResponseParams, message.get("response") or {}, "response")
        await self._start_response(params)

    async def _start_response(self, params: ResponseParams) -> None:
        if self._active is not None:
            raise InvalidRequest(
                f"Conversation already has an active response in progress: {self._active[0].plan.id}. Wait "
                "until the response is finished before creating a new one.",
                param=None,
                code="conversation_already_has_active_response",
            )
        plan, ticket = self._planner.plan(self.session, params, self._conversation)
        self._disarm_idle()
        responder = Responder(plan, self._conversation, self._send)
        if plan.voice is not None:
            self.session.voiced = True
        task = asyncio.create_task(self._respond(responder, ticket))
        self._active = (responder, task)

    async def _respond(self, responder: Responder, ticket: Any) -> None:
        try:
            await responder.run(ticket)
        finally:
            if self._active is not None and self._active[0] is responder:
                self._active = None
                self._arm_idle(responder)

    async def _response_cancel(self, message: dict[str, Any]) -> None:
        _fields(message, "response_id")
        wanted = message.get("response_id")
        if self._active is None or (wanted is not None and wanted != self._active[0].plan.id):
            raise InvalidRequest(
                "Cancellation failed: no active response found.",
                param=None,
                code="response_cancel_not_active",
            )
        self._cancel("client_cancelled")

    # -- server_vad's idle timeout ----------------------------------------------------------------------

    def _arm_idle(self, responder: Responder) -> None:
        """After a response: if the user says nothing for `idle_timeout_ms` once its audio has played
        (as a client playing it in real time would), the silence is committed and answered."""
        self._disarm_idle()
        timeout = _idle_timeout(self.session.config.audio.input.turn_detection)
        if timeout is None or self.outbox.closed:
            return
        playing = responder.playback_left()
        since = self._buffer.end_ms + round(1000 * playing)  # the input timeline once playback ends
        self._idle = asyncio.get_running_loop().call_later(playing + timeout / 1000, self._idle_fired, since)

    def _disarm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _idle_fired(self, since: int) -> None:
        self._idle = None
        task = asyncio.create_task(self._timed_out(since))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _timed_out(self, since: int) -> None:
        """`input_audio_buffer.timeout_triggered` with the silent stretch, its audio committed as a
        user item, then (with `create_response`) a response."""
        turn = self.session.config.audio.input.turn_detection
        detector = self._detector
        if _idle_timeout(turn) is None or self._active is not None or (detector and detector.speaking):
            return
        end = self._buffer.end_ms
        item_id = new_id("item")
        await self._send(
            event(
                "input_audio_buffer.timeout_triggered",
                audio_start_ms=min(since, end),
                audio_end_ms=end,
                item_id=item_id,
            )
        )
        await self._commit_buffer(item_id, self._buffer.take(end))
        if turn is not None and turn.create_response:
            try:
                await self._start_response(ResponseParams())
            except OmnivoxError as exc:  # e.g. the client's rate limit
                await self._send(error(exc, None))

    def _cancel(self, reason: str) -> None:
        assert self._active is not None
        responder = self._active[0]
        self.outbox.mute(responder.plan.id)
        responder.cancel(reason)


async def _heard(
    early: asyncio.Future[Heard] | None,
    hear: Callable[[Samples], Awaitable[Heard]],
    samples: Samples,
) -> Heard:
    """The early recognition when it succeeded (usage counts the whole committed audio), else a new one."""
    if early is not None and not early.cancelled():
        try:
            text, _ = await early
        except Exception:  # the early recognition failed: recognise once more below
            pass
        else:
            return text, samples.size / RATE
    if samples.size == 0:
        return "", 0.0
    return await hear(samples)


def _user_audio_item(item_id: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "object": "realtime.item",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }


def _words_of(heard: asyncio.Future[str], early: asyncio.Future[Heard]) -> None:
    """A speculative turn's words from the recognition at its pause. When that failed they stay
    unknown: a dropped speculation never needs them; a released one gets those the commit's own
    recognition finds (`_pass_on`)."""
    if not heard.done() and not early.cancelled() and early.exception() is None:
        heard.set_result(early.result()[0])


def _pass_on(waiting: asyncio.Future[str], heard: asyncio.Future[str]) -> None:
    if not waiting.done():
        waiting.set_result(heard.result())


#: Client events after which a speculative response still answers the session as it is.
_UNCHANGING = frozenset({"input_audio_buffer.append", "conversation.item.retrieve"})


def _idle_timeout(turn: ServerVad | SemanticVad | None) -> int | None:
    return turn.idle_timeout_ms if isinstance(turn, ServerVad) else None


def _fields(message: dict[str, Any], *allowed: str) -> None:
    for key in message:
        if key not in ("type", "event_id", *allowed):
            raise InvalidRequest(f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")


def _item_id(message: dict[str, Any]) -> str:
    item_id = message.get("item_id")
    if not isinstance(item_id, str):
        raise InvalidRequest(
            "Missing required parameter: 'item_id'.", param="item_id", code="missing_required_parameter"
        )
    return item_id


def _wire(entry: Entry) -> dict[str, Any]:
    item = entry.item
    return {k: [dict(c) for c in v] if k == "content" else v for k, v in item.items()}
