"""Turn detection: where the user's speech starts and stops in the streamed input audio.

The voice-activity model is Silero VAD v6, the ONNX file faster-whisper ships
(`faster_whisper/assets/silero_vad_v6.onnx`, 1.25 MB), run with onnxruntime one 32 ms frame at a time with
its LSTM state carried over (about 1 ms per frame on this CPU). Its input is 16 kHz: 512 new samples plus
the 64 before them. A detector per session resamples the 24 kHz input as a stream (soxr), so frame edges
do not click.

`server_vad` maps OpenAI's parameters directly: speech starts at the first frame whose probability reaches
`threshold`; it stops once the probability stays below `threshold - 0.15` (Silero's own hysteresis) for
`silence_duration_ms`. Every pause of `PAUSE_MS` within speech is reported (`Pause`): the session then
recognises the turn so far (and may start answering it); speech after such a pause is `Resumed`.
`semantic_vad` decides from what was said: the turn ends after a short silence when the words heard up to
the pause end a sentence or question (`hint`), and otherwise only after the longest wait of its
eagerness, as OpenAI documents it (8 s, 4 s, 2 s). Times are milliseconds on the session's input
timeline (all audio appended since the session began).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import soxr
from numpy.typing import NDArray

VAD_RATE = 16_000
FRAME = 512  # samples per Silero frame at 16 kHz: 32 ms
CONTEXT = 64  # samples of the previous frame the model sees again
FRAME_MS = FRAME * 1000 // VAD_RATE
HYSTERESIS = 0.15
#: Silence within speech that counts as a pause: 3 frames. Shorter gaps are stops inside words
#: (plosives); a pause this long sits between words, a good place to cut the audio for recognition.
PAUSE_MS = 3 * FRAME_MS


def silero_path() -> Path:
    """The Silero v6 ONNX file inside the installed faster-whisper package (not imported, only found)."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("faster-whisper is not installed; its Silero VAD model is needed")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "silero_vad_v6.onnx"


class SileroModel:
    """The ONNX session, shared by every session's detector (onnxruntime's `run` is thread-safe)."""

    def __init__(self, path: Path | None = None) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(path or silero_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def stream(self) -> SileroStream:
        return SileroStream(self._session)


class SileroStream:
    """One audio stream's state: 16 kHz samples in, one speech probability per 32 ms frame out."""

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        self._session = session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def feed(self, samples: NDArray[np.float32]) -> list[float]:
        self._pending = np.concatenate([self._pending, samples])
        probabilities = []
        while self._pending.size >= FRAME:
            frame, self._pending = self._pending[:FRAME], self._pending[FRAME:]
            window = np.concatenate([self._context, frame])[None, :]  # (1, 576)
            out, self._h, self._c = self._session.run(None, {"input": window, "h": self._h, "c": self._c})
            self._context = frame[-CONTEXT:]
            probabilities.append(float(np.asarray(out).reshape(-1)[0]))
        return probabilities


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    audio_start_ms: int  # onset minus the prefix padding (the start of the audio the turn keeps)


@dataclass(frozen=True, slots=True)
class Pause:
    at_ms: int  # where the pause was confirmed: the audio up to here holds all the speech so far
    speech_end_ms: int  # where the last speech frame ended


@dataclass(frozen=True, slots=True)
class Resumed:
    at_ms: int  # speech again after a pause: that pause did not end the turn


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    audio_end_ms: int  # where the silence window closed
    speech_end_ms: int  # where the last speech frame ended


TurnEvent = SpeechStarted | Pause | Resumed | SpeechStopped


@dataclass(frozen=True, slots=True)
class VadParams:
    threshold: float
    prefix_padding_ms: int
    silence_ms: int  # silence that ends a turn (semantic_vad: one whose words end a sentence)
    max_silence_ms: int | None = None  # semantic_vad: silence that ends a turn whatever was said


#: semantic_vad's eagerness -> (silence after words that end a turn, the longest wait), ms. The longest
#: waits are OpenAI's documented caps; the short ones are the least silence a finished sentence needs.
EAGERNESS_MS = {"low": (800, 8000), "medium": (400, 4000), "auto": (400, 4000), "high": (200, 2000)}


class TurnDetector:
    """Speech onsets and ends in a session's 24 kHz input; `feed` runs on a thread (the model), and a
    lock keeps the stream state whole when `reset` (buffer cleared) comes from the event loop."""

    def __init__(self, model: SileroModel, params: VadParams, input_rate: int = 24_000) -> None:
        self._model = model
        self._params = params
        self._rate = input_rate
        self._lock = threading.Lock()
        self._stream = model.stream()
        self._resampler = soxr.ResampleStream(input_rate, VAD_RATE, 1, dtype="float32")
        self._frames = 0  # frames seen: the timeline position is frames * 32 ms (+ offset)
        self._offset_ms = 0  # where the detector's timeline starts on the session's
        self._speaking = False
        self._silent_ms = 0
        self._pause: Pause | None = None  # the pause under way, once confirmed
        self._finished: bool | None = None  # semantic_vad: whether the words up to that pause end a turn

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def prefix_padding_ms(self) -> int:
        return self._params.prefix_padding_ms

    def configure(self, params: VadParams) -> None:
        with self._lock:
            self._params = params

    def reset(self, at_ms: int) -> None:
        """Forget the current speech (the buffer was cleared or committed by hand); the timeline goes on
        from `at_ms`."""
        with self._lock:
            self._stream = self._model.stream()
            self._resampler = soxr.ResampleStream(self._rate, VAD_RATE, 1, dtype="float32")
            self._frames = 0
            self._offset_ms = at_ms
            self._speaking = False
            self._silent_ms = 0
            self._pause, self._finished = None, None

    def hint(self, at_ms: int, finished: bool) -> None:
        """What the words up to the pause at `at_ms` say (semantic_vad): counted only while that pause
        lasts."""
        with self._lock:
            if self._pause is not None and self._pause.at_ms == at_ms:
                self._finished = finished

    def feed(self, samples: NDArray[np.float32]) -> list[TurnEvent]:
        """Samples at the input rate (float32); the onsets and ends they complete, in order."""
        with self._lock:
            resampled = self._resampler.resample_chunk(samples)
            events: list[TurnEvent] = []
            for probability in self._stream.feed(np.asarray(resampled, dtype=np.float32)):
                self._frames += 1
                events += self._step(probability, self._offset_ms + self._frames * FRAME_MS)
            return events

    def _step(self, probability: float, end_ms: int) -> list[TurnEvent]:
        params = self._params
        if not self._speaking:
            if probability >= params.threshold:
                self._speaking, self._silent_ms = True, 0
                onset = end_ms - FRAME_MS
                return [SpeechStarted(max(self._offset_ms, onset - params.prefix_padding_ms))]
            return []
        if probability >= params.threshold - HYSTERESIS:
            resumed: list[TurnEvent] = [Resumed(end_ms - FRAME_MS)] if self._pause is not None else []
            self._silent_ms, self._pause, self._finished = 0, None, None
            return resumed
        self._silent_ms += FRAME_MS
        events: list[TurnEvent] = []
        if self._pause is None and self._silent_ms >= min(PAUSE_MS, params.silence_ms):
            self._pause = Pause(end_ms, end_ms - self._silent_ms)
            events.append(self._pause)
        if self._ends(params):
            self._speaking = False
            events.append(SpeechStopped(end_ms, end_ms - self._silent_ms))
            self._pause, self._finished = None, None
        return events

    def _ends(self, params: VadParams) -> bool:
        if params.max_silence_ms is None:  # server_vad: the silence window alone
            return self._silent_ms >= params.silence_ms
        if self._silent_ms >= params.max_silence_ms:
            return True
        return self._silent_ms >= params.silence_ms and self._finished is True
