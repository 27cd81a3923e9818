"""Realtime API test helpers: spoken input from a real voice, and a client wrapper that checks every
server event as it arrives (JSON text under 1 MiB, a unique `event_id`, valid as the openai SDK's own
`RealtimeServerEvent`, nothing of a response after its `response.done`)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import numpy as np
from openai import OpenAI
from pydantic import TypeAdapter

from omnivox.audio.pcm import Audio
from omnivox.runtimes.synthesis import SpeechSynthesizer

try:  # the GA types (openai >= 1.103)
    from openai.types.realtime import RealtimeServerEvent
except ImportError:  # pragma: no cover - an SDK too old for the GA Realtime API
    RealtimeServerEvent = None  # type: ignore[assignment,misc]

RATE = 24_000
CHUNK = 960  # bytes: 20 ms of pcm16 at 24 kHz, as the official example streams
_ADAPTER: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)


def spoken(voice: SpeechSynthesizer, text: str, lead: float = 0.5, tail: float = 1.5) -> bytes:
    """`text` said by `voice`, as pcm16 24 kHz, with `lead` s of silence before and `tail` s after."""
    chunks = [a.resampled(RATE).samples for a in voice.synthesize(text)]
    speech = np.concatenate(
        [np.zeros(int(lead * RATE), np.float32), *chunks, np.zeros(int(tail * RATE), np.float32)]
    )
    return (np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes()


def pcm_audio(data: bytes) -> Audio:
    return Audio(np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, RATE)


def client(url: str, key: str = "sk-test") -> OpenAI:
    """An SDK client whose Realtime connection reaches `url` over plain ws (1.x always takes wss unless
    told `websocket_base_url`)."""
    return OpenAI(base_url=f"{url}/v1", api_key=key, websocket_base_url=url.replace("http", "ws", 1) + "/v1")


class Checked:
    """Wraps the SDK's Realtime connection: every received event is checked and kept in `events`."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []
        self.times: list[float] = []
        self._ids: set[str] = set()
        self._done: set[str] = set()

    def send(self, event: dict[str, Any]) -> None:
        self.connection.send(event)

    def append(self, pcm: bytes, *, realtime: bool = False, chunk: int = CHUNK) -> None:
        """Stream `pcm` in 20 ms chunks; `realtime`: paced as a microphone would."""
        start = time.monotonic()
        for n, at in enumerate(range(0, len(pcm), chunk)):
            piece = base64.b64encode(pcm[at : at + chunk]).decode()
            self.send({"type": "input_audio_buffer.append", "audio": piece})
            if realtime:
                time.sleep(max(0.0, start + (n + 1) * chunk / (2 * RATE) - time.monotonic()))

    def recv(self, timeout: float = 60.0) -> dict[str, Any]:
        """The next event (TimeoutError after `timeout` s without one: a test never hangs)."""
        raw = self.connection._connection.recv(timeout=timeout)  # the SDK's websockets connection
        raw = raw.encode() if isinstance(raw, str) else raw
        assert len(raw) < 1024 * 1024
        event = json.loads(raw)
        typed = _ADAPTER.validate_python(event)
        assert typed.type == event["type"], event
        assert event["event_id"] not in self._ids
        self._ids.add(event["event_id"])
        response_id = event.get("response_id") or (event.get("response") or {}).get("id")
        assert response_id not in self._done, f"{event['type']} after response.done"
        if event["type"] == "response.done":
            self._done.add(response_id)
        self.events.append(event)
        self.times.append(time.monotonic())
        return event

    def until(self, kind: str, timeout: float = 60.0) -> dict[str, Any]:
        """Events are read until one of type `kind` (returned); an error event fails the test."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self.recv(max(0.1, deadline - time.monotonic()))
            if event["type"] == kind:
                return event
            assert event["type"] != "error", event
        raise AssertionError(f"no {kind} within {timeout} s")

    def error(self, timeout: float = 30.0) -> dict[str, Any]:
        """The next error event's `error` (events of a response under way may come first)."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.recv(max(0.1, deadline - time.monotonic()))
            if event["type"] == "error":
                return dict(event["error"])
            assert event["type"].startswith("response."), event

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def audio(self, response_id: str) -> bytes:
        return b"".join(
            base64.b64decode(e["delta"])
            for e in self.of("response.output_audio.delta")
            if e["response_id"] == response_id
        )
