"""Piper (VITS, ONNX) voices, with the espeak-ng phonemiser piper-tts bundles.

A voice may speak several texts at once (`parallel`): espeak-ng keeps its state in the process, so
phonemisation is serialised under one lock for every Piper voice; onnxruntime's `InferenceSession.run` is
thread-safe, so the network runs concurrently. A run alone uses every core (onnxruntime's default, as
with one job at a time); a run that starts while another is running uses a narrow session of
cores / `parallel` threads, so concurrent runs do not fight over the cores: on 2 loaded cores, two runs at
once on the 2-thread session took 1.3-1.4x as long as on 1-thread sessions (docs/benchmarks.md, "The
voices of n choices").
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import numpy as np
import onnxruntime
from piper import PiperVoice, SynthesisConfig

from omnivox.audio.pcm import Audio
from omnivox.backends.cpu import default_threads
from omnivox.errors import ModelLoadError
from omnivox.runtimes.synthesis import VoiceInfo

#: espeak-ng is one library state per process, not thread-safe: every Piper voice phonemises under it.
_PHONEMIZING = threading.Lock()


class _Sessions:
    """The voice's ONNX sessions: the wide one (all cores) for a run alone, the narrow one (cores /
    `parallel` threads, loaded only when `parallel` > 1) for a run beside others."""

    def __init__(self, voice: PiperVoice, model: Path, parallel: int) -> None:
        self._wide = voice
        self._narrow = voice
        if parallel > 1:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = max(1, default_threads() // parallel)
            session = onnxruntime.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._narrow = dataclasses.replace(voice, session=session)
        self._lock = threading.Lock()
        self._running = 0

    @contextlib.contextmanager
    def voice(self) -> Iterator[PiperVoice]:
        with self._lock:
            alone = self._running == 0
            self._running += 1
        try:
            yield self._wide if alone else self._narrow
        finally:
            with self._lock:
                self._running -= 1


class PiperSynthesizer:
    def __init__(self, model: Path, *, parallel: int = 1, noise: bool = True) -> None:
        """`parallel`: how many texts it may speak at once (threads calling `synthesize`). `noise`:
        False turns VITS's random noise off, so a text always gives the same samples (tests)."""
        config = model.with_name(model.name + ".json")
        if not model.is_file() or not config.is_file():
            raise ModelLoadError(f"a Piper voice needs {model} and {config}")
        try:
            voice = PiperVoice.load(model, config_path=config)
            self._sessions = _Sessions(voice, model, parallel)
        except Exception as exc:  # onnxruntime and json errors alike: the voice cannot be used
            raise ModelLoadError(f"Piper could not load {model}: {exc}") from exc
        self._voice = voice
        self._noise = noise
        self._info = VoiceInfo(sample_rate=voice.config.sample_rate, description=f"Piper {model.stem}")

    @property
    def info(self) -> VoiceInfo:
        return self._info

    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[Audio]:
        """One chunk per sentence, as piper's own `PiperVoice.synthesize` (normalised to a peak of 1)."""
        quiet = None if self._noise else 0.0  # None: the voice's own noise scales
        config = SynthesisConfig(length_scale=1.0 / speed, noise_scale=quiet, noise_w_scale=quiet)
        with _PHONEMIZING:
            sentences = self._voice.phonemize(text)
        for phonemes in sentences:
            if not phonemes:
                continue
            ids = self._voice.phonemes_to_ids(phonemes)
            with self._sessions.voice() as voice:
                samples = cast(np.ndarray, voice.phoneme_ids_to_audio(ids, config))  # no alignments asked
            yield Audio(_normalised(samples), self._info.sample_rate)

    def close(self) -> None:
        pass


def _normalised(samples: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    scaled = samples / peak if peak >= 1e-8 else np.zeros_like(samples)
    return np.clip(scaled, -1.0, 1.0).astype(np.float32)
