"""Flite voices (Debian package `flite`: kal, awb, rms, slt): robotic but intelligible and very fast."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from omnivox.audio.decode import AudioLimits, decode
from omnivox.audio.pcm import Audio
from omnivox.errors import ModelFailure, ModelLoadError
from omnivox.runtimes.synthesis import VoiceInfo

SAMPLE_RATE = 16_000
_LIMITS = AudioLimits(max_seconds=3600)


class FliteSynthesizer:
    def __init__(self, voice: str, binary: str = "flite") -> None:
        found = shutil.which(binary)
        if found is None:
            raise ModelLoadError(
                f"flite voice {voice!r}: the `{binary}` program is not installed (Debian: flite)"
            )
        listed = subprocess.run(
            [found, "-lv"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
        if voice not in listed.split():
            raise ModelLoadError(f"flite has no voice {voice!r}; it lists: {listed.strip()}")
        self._binary, self._voice = found, voice
        self._info = VoiceInfo(sample_rate=SAMPLE_RATE, description=f"Flite {voice}")

    @property
    def info(self) -> VoiceInfo:
        return self._info

    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[Audio]:
        with tempfile.TemporaryDirectory(prefix="omnivox-flite-") as folder:
            out = Path(folder) / "speech.wav"
            command = [self._binary, "-voice", self._voice, "--setf", f"duration_stretch={1.0 / speed:.3f}"]
            result = subprocess.run([*command, "-t", text, "-o", str(out)], capture_output=True, timeout=120)
            if result.returncode != 0 or not out.is_file():
                raise ModelFailure(f"flite failed: {result.stderr.decode(errors='replace').strip()}")
            yield decode(out.read_bytes(), "wav", _LIMITS)

    def close(self) -> None:
        pass
