"""Piper (VITS, ONNX) voices, with the espeak-ng phonemiser piper-tts bundles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from piper import PiperVoice, SynthesisConfig

from omnivox.audio.pcm import Audio
from omnivox.errors import ModelLoadError
from omnivox.runtimes.synthesis import VoiceInfo


class PiperSynthesizer:
    def __init__(self, model: Path) -> None:
        config = model.with_name(model.name + ".json")
        if not model.is_file() or not config.is_file():
            raise ModelLoadError(f"a Piper voice needs {model} and {config}")
        try:
            self._voice = PiperVoice.load(model, config_path=config)
        except Exception as exc:  # onnxruntime and json errors alike: the voice cannot be used
            raise ModelLoadError(f"Piper could not load {model}: {exc}") from exc
        self._info = VoiceInfo(sample_rate=self._voice.config.sample_rate, description=f"Piper {model.stem}")

    @property
    def info(self) -> VoiceInfo:
        return self._info

    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[Audio]:
        config = SynthesisConfig(length_scale=1.0 / speed)
        for chunk in self._voice.synthesize(text, config):
            yield Audio(chunk.audio_float_array.astype("float32", copy=False), chunk.sample_rate)

    def close(self) -> None:
        pass
