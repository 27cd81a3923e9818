"""/v1/realtime's speculative answers ([realtime] speculative, on by default): at a pause in the user's
speech the answer to what was heard so far starts, its events held. Real speech streamed at microphone
pace; the silence window is long, and the test holds the microphone's silence back until the fake model
has started the speculative answer, so the order of things does not depend on the machine's speed (the
VAD counts audio, not wall time)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from tests.conftest import serve_fake
from tests.support.fakes import FakeLanguageModel, echo_script
from tests.support.realtime import Checked, client, pcm_audio, spoken

pytestmark = [pytest.mark.sdk, pytest.mark.model]

SILENCE_MS = 1000  # the turn ends after this much silence; a pause (96 ms) starts the speculative answer


class Recorder:
    """The fake's script: the echo, and the last user turn of every generation's prompt (a prefill's
    prompt ends inside the user turn and is not counted)."""

    def __init__(self) -> None:
        self.answered: list[str] = []

    def __call__(self, prompt: str) -> str:
        if prompt.rstrip().endswith("<|im_start|>assistant"):
            turns = re.findall(r"<\|im_start\|>user\n(.*?)<\|im_end\|>", prompt, flags=re.S)
            self.answered.append(turns[-1] if turns else "")
        return echo_script(prompt)

    def wait_for(self, words: str, since: int, timeout: float = 90.0) -> None:
        """Until a generation answers a user turn that holds `words` (a loaded machine is slow)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(words in turn.lower() for turn in self.answered[since:]):
                return
            time.sleep(0.05)
        raise AssertionError(f"no answer to {words!r} started; answered {self.answered[since:]}")


@pytest.fixture(scope="module")
def served(
    tiny_whisper: SpeechRecognizer, voices: dict[str, SpeechSynthesizer]
) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    model = FakeLanguageModel(recorder, delay=0.01, confidence=40.0)
    with serve_fake(model, speech=[tiny_whisper], voices={"slt": voices["slt"]}, upstream=False) as (base, _):
        yield base, recorder


#: Both kinds of turn detection speculate at pauses. semantic_vad at low eagerness ends a finished turn
#: after 800 ms of silence and an unfinished one ("... the city of") after 8 s at most.
DETECTIONS = {
    "server_vad": {"type": "server_vad", "silence_duration_ms": SILENCE_MS},
    "semantic_vad": {"type": "semantic_vad", "eagerness": "low"},
}


def _session(rt: Checked, detection: str = "server_vad") -> None:
    rt.until("session.created")
    audio = {"transcription": {"model": "gpt-4o-transcribe"}, "turn_detection": DETECTIONS[detection]}
    rt.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": audio}}})
    rt.until("session.updated")


def _silence(seconds: float) -> bytes:
    return bytes(int(seconds * 24_000) * 2)


def _response_ids(events: list[dict[str, Any]]) -> set[str]:
    return {e.get("response_id") or e["response"]["id"] for e in events if e["type"].startswith("response.")}


@pytest.mark.parametrize("detection", sorted(DETECTIONS))
def test_an_answer_started_at_the_pause_is_released_in_the_documented_order(
    served: tuple[str, Recorder],
    voices: dict[str, SpeechSynthesizer],
    detection: str,
    tiny_whisper: SpeechRecognizer,
) -> None:
    url, recorder = served
    question = spoken(voices["rms"], "What is the weather like in Paris today?", tail=0.0)
    with client(url).realtime.connect(model="gpt-realtime") as connection:
        rt = Checked(connection)
        _session(rt, detection)
        since = len(recorder.answered)
        rt.append(question + _silence(0.3), realtime=True)  # a pause, far from the end of the turn
        recorder.wait_for("paris", since)  # the answer is being written while the turn is still open
        sender = threading.Thread(target=rt.append, args=(_silence(1.5),), kwargs={"realtime": True})
        sender.start()
        done = rt.until("response.done")["response"]
        sender.join()

    assert done["status"] == "completed"
    assert len(recorder.answered[since:]) == 1  # the speculative answer was released, not started again
    types = rt.types()
    turn = types[types.index("input_audio_buffer.speech_started") :]
    head = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
    ]
    tail = [
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
    ]
    assert turn[: len(head)] == head and turn[-len(tail) :] == tail, turn
    middle = turn[len(head) : -len(tail)]
    assert middle[0] == "response.output_audio_transcript.delta"
    assert set(middle) == {"response.output_audio_transcript.delta", "response.output_audio.delta"}
    assert "response.output_audio_transcript.delta" not in middle[-1:]  # each piece's words, then audio

    user = rt.of("conversation.item.added")[0]["item"]
    answer = rt.of("conversation.item.added")[1]
    assert answer["previous_item_id"] == user["id"] == rt.of("input_audio_buffer.committed")[0]["item_id"]
    assert _response_ids(rt.events) == {done["id"]}
    assert done["usage"]["input_tokens"] > 0 and done["usage"]["output_tokens"] > 0
    heard = rt.of("conversation.item.input_audio_transcription.completed")[0]["transcript"].lower()
    assert "paris" in heard
    said = tiny_whisper.recognize(pcm_audio(rt.audio(done["id"]))).complete().text.lower()
    assert "paris" in said


def test_speech_after_the_pause_drops_the_speculative_answer_unseen(
    served: tuple[str, Recorder], voices: dict[str, SpeechSynthesizer]
) -> None:
    url, recorder = served
    first = spoken(voices["rms"], "What is the weather like in the city of", tail=0.0)
    second = spoken(voices["rms"], "Paris today?", lead=0.0, tail=1.5)
    with client(url).realtime.connect(model="gpt-realtime") as connection:
        rt = Checked(connection)
        _session(rt)
        since = len(recorder.answered)
        rt.append(first + _silence(0.3), realtime=True)
        recorder.wait_for("weather", since)  # an answer to the first half is being written
        sender = threading.Thread(target=rt.append, args=(second,), kwargs={"realtime": True})
        sender.start()
        done = rt.until("response.done")["response"]
        sender.join()
        rt.send({"type": "conversation.item.retrieve", "item_id": done["output"][0]["id"]})
        rt.until("conversation.item.retrieved")

    answered = recorder.answered[since:]
    assert "paris" not in answered[0].lower() and "paris" in answered[-1].lower()
    assert done["status"] == "completed"
    assert _response_ids(rt.events) == {done["id"]}  # nothing of the dropped answer reached the client
    assert len(rt.of("response.created")) == 1 and len(rt.of("input_audio_buffer.speech_stopped")) == 1
    assert len(rt.of("conversation.item.added")) == 2  # the user's turn and the one answer
    heard = rt.of("conversation.item.input_audio_transcription.completed")
    assert len(heard) == 1
    assert "weather" in heard[0]["transcript"].lower() and "paris" in heard[0]["transcript"].lower()
    spoken_text = done["output"][0]["content"][0]["transcript"].lower()
    assert "weather" in spoken_text and "paris" in spoken_text  # the echo of the whole utterance


def test_semantic_vad_drops_the_answer_to_unfinished_words_and_waits(
    served: tuple[str, Recorder], voices: dict[str, SpeechSynthesizer]
) -> None:
    """semantic_vad: the words heard at a pause ("... in the city of") do not end the turn, so the answer
    speculated for them is dropped before the model is asked, and a silence longer than the short window
    does not end the turn either; the whole utterance gets the one answer."""
    url, recorder = served
    first = spoken(voices["rms"], "What is the weather like in the city of", tail=0.0)
    second = spoken(voices["rms"], "Paris today?", lead=0.0, tail=1.5)
    with client(url).realtime.connect(model="gpt-realtime") as connection:
        rt = Checked(connection)
        _session(rt, "semantic_vad")
        since = len(recorder.answered)
        rt.append(first + _silence(1.2), realtime=True)  # longer than low eagerness's 800 ms window
        rt.append(second, realtime=True)
        done = rt.until("response.done")["response"]

    answered = recorder.answered[since:]
    assert len(answered) == 1 and "weather" in answered[0].lower() and "paris" in answered[0].lower()
    assert done["status"] == "completed" and _response_ids(rt.events) == {done["id"]}
    assert len(rt.of("input_audio_buffer.speech_stopped")) == 1
    heard = rt.of("conversation.item.input_audio_transcription.completed")
    assert len(heard) == 1 and "paris" in heard[0]["transcript"].lower()


def test_no_speculation_without_create_response(
    served: tuple[str, Recorder], voices: dict[str, SpeechSynthesizer]
) -> None:
    """`create_response: false`: the turn is committed and heard, and no answer is started, not even one
    held back (the model is never asked to generate)."""
    url, recorder = served
    question = spoken(voices["rms"], "What is the weather like in Paris today?", tail=1.5)
    with client(url).realtime.connect(model="gpt-realtime") as connection:
        rt = Checked(connection)
        rt.until("session.created")
        audio = {
            "transcription": {"model": "gpt-4o-transcribe"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500, "create_response": False},
        }
        rt.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": audio}}})
        rt.until("session.updated")
        since = len(recorder.answered)
        rt.append(question, realtime=True)
        heard = rt.until("conversation.item.input_audio_transcription.completed")["transcript"]
        time.sleep(1.0)  # a speculative answer to the heard words would have started by now
        rt.send(
            {
                "type": "conversation.item.retrieve",
                "item_id": rt.of("input_audio_buffer.committed")[0]["item_id"],
            }
        )
        rt.until("conversation.item.retrieved")
    assert "paris" in heard.lower()
    assert recorder.answered[since:] == []
    assert not [e for e in rt.events if e["type"].startswith("response.")]
