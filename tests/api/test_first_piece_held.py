"""A spoken answer's first piece is spoken with the cores to itself: the model that writes the answer
pauses from the moment the voice starts on that piece until its audio is there (the listener is waiting
for it), and writes on while the later pieces are spoken (docs/realtime.md, "Latency"): in a realtime
response and in a streamed chat completion with audio."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import websockets.sync.client

from omnivox.audio.pcm import Audio
from omnivox.runtimes.synthesis import VoiceInfo
from tests.conftest import FAKE_ID, serve_fake
from tests.support.fakes import FakeLanguageModel

#: What the user says: the fake model repeats it, a long answer of many pieces (a token a character).
LONG = "The first piece is short. " + " ".join(f"Then sentence {i} goes on for a while." for i in range(12))


class TimingVoice:
    """Takes 0.3 s a piece, noting how many tokens the model had made when it started and when done."""

    info = VoiceInfo(sample_rate=16_000, description="timing")

    def __init__(self, model: FakeLanguageModel) -> None:
        self._model = model
        self.pieces: list[tuple[str, int, int]] = []  # (text, tokens at start, tokens when done)
        self._lock = threading.Lock()

    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[Audio]:
        started = self._model.appends
        time.sleep(0.3)
        with self._lock:
            self.pieces.append((text, started, self._model.appends))
        yield Audio(np.zeros(1600, np.float32), 16_000)

    def close(self) -> None:
        pass


def test_a_realtime_answer_holds_the_model_for_its_first_piece() -> None:
    # ~250 tokens a second: ~75 in a piece's 0.3 s if not held; confident enough to follow its script
    model = FakeLanguageModel(delay=0.004, confidence=40.0)
    voice = TimingVoice(model)
    with serve_fake(model, voices={"joe": voice}, upstream=False) as (base, _):
        url = base.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"
        with websockets.sync.client.connect(url) as ws:

            def until(kind: str) -> dict[str, object]:
                while (message := json.loads(ws.recv()))["type"] != kind:
                    assert message["type"] != "error", message
                return message

            until("session.created")
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": LONG}]}
            ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            ws.send(json.dumps({"type": "response.create"}))
            done = until("response.done")["response"]
    assert isinstance(done, dict) and done["status"] == "completed"
    _held_for_the_first_piece_only(voice)


def test_a_streamed_spoken_chat_answer_holds_the_model_for_its_first_piece() -> None:
    model = FakeLanguageModel(delay=0.004, confidence=40.0)
    voice = TimingVoice(model)
    with serve_fake(model, voices={"joe": voice}, upstream=False) as (base, _):
        body = {
            "model": FAKE_ID,
            "messages": [{"role": "user", "content": LONG}],
            "modalities": ["text", "audio"],
            "audio": {"voice": "alloy", "format": "pcm16"},
            "stream": True,
        }
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=60) as response:
            assert response.status_code == 200
            lines = list(response.iter_lines())
    assert lines[-2:] == ["data: [DONE]", ""] or lines[-1] == "data: [DONE]"
    _held_for_the_first_piece_only(voice)


def _held_for_the_first_piece_only(voice: TimingVoice) -> None:
    assert len(voice.pieces) > 3
    first, *later = voice.pieces
    assert first[2] - first[1] <= 1, first  # held: at most the token under way when the voice started
    assert first[2] < len("You said: " + LONG) / 2  # and the answer was far from written
    # the later pieces are spoken while the model writes on, as long as there is more to write
    assert later[0][2] - later[0][1] > 10, later[0]
