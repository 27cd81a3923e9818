"""faster-whisper (CTranslate2) speech recognition, with the Silero voice-activity detector it bundles
trimming silence before decoding."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from faster_whisper import WhisperModel

from omnivox.audio.pcm import Audio
from omnivox.backends.cpu import default_threads
from omnivox.errors import ModelLoadError
from omnivox.runtimes.speech import Recognition, Segment, SpeechModelInfo, Task, Word

SAMPLE_RATE = 16_000
#: Decoding temperatures tried in turn when a segment looks like a failure (faster-whisper's default).
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


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


class WhisperRecognizer:
    def __init__(
        self,
        folder: Path,
        *,
        compute_type: str = "int8",
        threads: int | None = None,
        beam_size: int = 5,
        vad: bool = True,
    ) -> None:
        if not (folder / "model.bin").is_file():
            raise ModelLoadError(f"not a faster-whisper model folder (no model.bin): {folder}")
        try:
            self._model = WhisperModel(
                str(folder), device="cpu", compute_type=compute_type, cpu_threads=threads or default_threads()
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelLoadError(f"faster-whisper could not load {folder}: {exc}") from exc
        self._beam_size = beam_size
        self._vad = vad
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
    ) -> Recognition:
        pieces, info = self._model.transcribe(
            audio.resampled(SAMPLE_RATE).samples,
            task=task,
            language=language if self._info.multilingual else "en",
            initial_prompt=prompt or None,
            **transcribe_options(
                beam_size=self._beam_size,
                vad=self._vad,
                temperature=temperature,
                word_timestamps=word_timestamps,
            ),
        )
        segments = (
            Segment(
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
            for i, s in enumerate(pieces)
        )
        return Recognition(
            language=info.language,
            language_probability=info.language_probability,
            duration=audio.duration,
            speech_duration=info.duration_after_vad,
            segments=segments,
        )

    def close(self) -> None:
        del self._model
