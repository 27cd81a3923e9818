"""The one audio value inside omnivox, and the one resampler."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr
from numpy.typing import NDArray

Samples = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Audio:
    """Mono float32 PCM in [-1, 1] with its sample rate. Immutable by convention: never written in place."""

    samples: Samples  # shape (n,)
    sample_rate: int  # Hz

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.samples.size / self.sample_rate

    def resampled(self, rate: int) -> Audio:
        """The same sound at `rate` Hz (soxr, high quality)."""
        if rate == self.sample_rate or self.samples.size == 0:
            return Audio(self.samples, rate) if self.samples.size == 0 else self
        out = soxr.resample(self.samples, self.sample_rate, rate, quality="HQ")
        return Audio(np.ascontiguousarray(out, dtype=np.float32), rate)


def dbfs(samples: Samples) -> float:
    """RMS level in dB relative to full scale (-inf for digital silence)."""
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20 * np.log10(rms) if rms > 0 else float("-inf")
