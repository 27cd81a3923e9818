"""faster-whisper (CTranslate2) speech recognition, with the Silero voice-activity detector it bundles
trimming silence before decoding.

Whisper's encoder was trained on 30-second windows; faster-whisper pads every clip to one. A spoken question
is 1-3 s, so most of that encoder work is padding: 0.5 s of the 0.7-0.9 s Whisper base spent on a 2 s clip
on two cores. CTranslate2 runs the encoder on any number of frames, so omnivox cuts the window to the clip
plus `padding_s` seconds of the (zero) padding, and the decoder attends over ~12 s instead of 30 s. With
5 s of padding or less tiny.en falls into repetition loops (base holds down to 3 s); with 10 s base hears
as well as on the whole window and tiny.en a little worse (docs/benchmarks.md, "The encoder window").

A caller that prefers speed (a realtime turn: `quick=True`) gets a quick pass first (greedy, 5 s of
padding: about half the time): its words are kept when every segment's average log-probability is at
least `min_avg_logprob` (Whisper's own confidence, free to read), else the clip is decoded again as
configured. Chosen on the tune half of the spoken questions and checked on the held-out half
(docs/benchmarks.md, "A quick pass first").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel

from omnivox.audio.pcm import Audio
from omnivox.backends.cpu import default_threads
from omnivox.config import QuickPassSettings
from omnivox.errors import ModelLoadError
from omnivox.runtimes.speech import Recognition, Segment, SpeechModelInfo, Task, Word

SAMPLE_RATE = 16_000
#: Seconds of padding the encoder sees after a clip (`[[speech_models]] encoder_padding_s`).
ENCODER_PADDING_S = 10.0
#: Mel frames per second (faster-whisper's feature extractor: 10 ms hop).
MEL_FRAMES_PER_S = 100
#: Decoding temperatures tried in turn when a segment looks like a failure (faster-whisper's default).
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
#: Clips up to this long may be heard by the quick pass (one window: its words are all decoded before
#: they are judged).
QUICK_MAX_S = 30.0


def transcribe_options(
    *, beam_size: int = 5, vad: bool = True, temperature: float | None = None, word_timestamps: bool = True
) -> dict[str, Any]:
    """The options of faster-whisper's `transcribe` that omnivox chooses (the benchmarks' direct path
    passes the same)."""
    return {
        "temperature": FALLBACK_TEMPERATURES if temperature is None else temperature,
        "beam_size": beam_size,
        "vad_filter": vad,
        "word_timestamps": word_timestamps,
    }


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "vocabulary.txt", "vocabulary.json"):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    digest.update(str((folder / "model.bin").stat().st_size).encode())
    return "fp_" + digest.hexdigest()[:12]


class CutWindowWhisper(WhisperModel):  # type: ignore[misc]  # faster-whisper has no types
    """faster-whisper with the encoder run on the clip plus `padding_s` seconds of its padding, not on
    the whole 30 s window (None: the whole window). Other arguments: faster-whisper's `WhisperModel`.

    A multilingual model asked for no language encodes the first window twice: once to identify the
    language, once to decode it, on features that differ only in the last frame (faster-whisper's
    detection keeps a frame of padding its decoding leaves out, and is given it without). The decoding
    reuses the identification's encoding (a tenth of a second of Whisper base's time for a question).
    Not thread-safe: one recognition at a time, as its worker runs them."""

    def __init__(self, model: str, *, padding_s: float | None = ENCODER_PADDING_S, **options: Any) -> None:
        super().__init__(model, **options)
        self.padding_frames = None if padding_s is None else round(padding_s * MEL_FRAMES_PER_S)
        self._detected: tuple[np.ndarray, Any] | None = None  # the detection's spoken frames, its output
        self._detecting = False

    def detect_language(self, *args: Any, **kwargs: Any) -> Any:
        self._detected = None
        self._detecting = True
        try:
            return super().detect_language(*args, **kwargs)
        finally:
            self._detecting = False

    def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
        # faster-whisper pads a short segment's features with exact zeros up to 3000 frames; no frame of
        # real audio is all zeros (normalised log-mel), so the last non-zero frame ends the clip.
        spoken = np.flatnonzero(np.any(features != 0, axis=tuple(range(features.ndim - 1))))
        end = int(spoken[-1]) + 1 if spoken.size else 0
        if self._detecting and 0 < end < features.shape[-1]:
            # the identification sees the frame of padding the decoding leaves out: drop it, so that both
            # encode the same frames and the decoding can reuse this encoding
            features = features.copy()
            features[..., end - 1] = 0
            end -= 1
        detected, self._detected = self._detected, None
        if (
            detected is not None
            and detected[0].shape[-1] == end
            and np.array_equal(detected[0], features[..., :end])
        ):
            return detected[1]
        if self.padding_frames is not None:
            keep = min(features.shape[-1], max(2, end + self.padding_frames))
            output = super().encode(features[..., : keep + keep % 2])  # the encoder's stride is 2
        else:
            output = super().encode(features)
        if self._detecting:
            self._detected = (features[..., :end].copy(), output)
        return output


class WhisperRecognizer:
    def __init__(
        self,
        folder: Path,
        *,
        compute_type: str = "int8",
        threads: int | None = None,
        beam_size: int = 5,
        vad: bool = True,
        encoder_padding_s: float | None = ENCODER_PADDING_S,
        quick: QuickPassSettings | None = None,
    ) -> None:
        if not (folder / "model.bin").is_file():
            raise ModelLoadError(f"not a faster-whisper model folder (no model.bin): {folder}")
        try:
            self._model = CutWindowWhisper(
                str(folder),
                padding_s=encoder_padding_s,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=threads or default_threads(),
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelLoadError(f"faster-whisper could not load {folder}: {exc}") from exc
        self._beam_size = beam_size
        self._vad = vad
        self._padding_frames = self._model.padding_frames
        self._quick = quick
        self._info = SpeechModelInfo(
            sample_rate=SAMPLE_RATE,
            multilingual=self._model.model.is_multilingual,
            fingerprint=_fingerprint(folder),
            created=int((folder / "model.bin").stat().st_mtime),
        )

    @property
    def info(self) -> SpeechModelInfo:
        return self._info

    def recognize(
        self,
        audio: Audio,
        *,
        task: Task = "transcribe",
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        word_timestamps: bool = True,
        quick: bool = False,
    ) -> Recognition:
        samples = audio.resampled(SAMPLE_RATE).samples
        options: dict[str, Any] = {
            "task": task,
            "language": language if self._info.multilingual else "en",
            "initial_prompt": prompt or None,
            **transcribe_options(
                beam_size=self._beam_size,
                vad=self._vad,
                temperature=temperature,
                word_timestamps=word_timestamps,
            ),
        }
        if quick and self._quick is not None and audio.duration <= QUICK_MAX_S:
            heard = self._quick_pass(samples, audio.duration, self._quick, options)
            if heard is not None:
                return heard
        pieces, info = self._model.transcribe(samples, **options)
        return _recognition(info, audio.duration, _segments(pieces))

    def _quick_pass(
        self, samples: np.ndarray, duration: float, quick: QuickPassSettings, options: dict[str, Any]
    ) -> Recognition | None:
        """The clip decoded the quick way, or None when Whisper is unsure of a segment of it."""
        self._model.padding_frames = round(quick.encoder_padding_s * MEL_FRAMES_PER_S)
        try:
            pieces, info = self._model.transcribe(samples, **{**options, "beam_size": quick.beam_size})
            segments = list(_segments(pieces))
        finally:
            self._model.padding_frames = self._padding_frames
        if any(s.avg_logprob < quick.min_avg_logprob for s in segments):
            return None
        return _recognition(info, duration, iter(segments))

    def close(self) -> None:
        del self._model


def _recognition(info: Any, duration: float, segments: Iterator[Segment]) -> Recognition:
    """A Recognition from faster-whisper's `TranscriptionInfo` and omnivox's segments."""
    return Recognition(
        language=info.language,
        language_probability=info.language_probability,
        duration=duration,
        speech_duration=info.duration_after_vad,
        segments=segments,
    )


def _segments(pieces: Iterator[Any]) -> Iterator[Segment]:
    """faster-whisper's segments as omnivox's, decoded as they are iterated."""
    for i, s in enumerate(pieces):
        yield Segment(
            id=i,
            seek=s.seek,
            start=s.start,
            end=s.end,
            text=s.text,
            tokens=tuple(s.tokens),
            words=tuple(Word(w.start, w.end, w.word, w.probability) for w in s.words or ()),
            avg_logprob=s.avg_logprob,
            no_speech_prob=s.no_speech_prob,
            compression_ratio=s.compression_ratio,
            temperature=s.temperature if s.temperature is not None else 0.0,
        )
