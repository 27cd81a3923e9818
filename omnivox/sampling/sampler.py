"""omnivox's own sampler: the same OpenAI semantics over the logits of every backend.

temperature 0 is greedy (argmax). Otherwise p = softmax(logits / temperature), then nucleus filtering
(`top_p`: the smallest set of most likely tokens whose probabilities sum to at least top_p), then one draw
from the renormalised distribution with a generator seeded from `seed`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from omnivox.runtimes.base import Logits

#: Candidates examined before falling back to a full sort for top_p (a partial sort is much cheaper).
_NUCLEUS_CANDIDATES = 128


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = 1.0  # 0..2, 0 greedy
    top_p: float = 1.0  # 0..1
    seed: int | None = None  # None: fresh entropy per request


def softmax(logits: Logits, temperature: float = 1.0) -> NDArray[np.float64]:
    scaled = logits.astype(np.float64) / temperature
    scaled -= scaled.max()
    np.exp(scaled, out=scaled)
    scaled /= scaled.sum()
    return scaled


def nucleus(probs: NDArray[np.float64], top_p: float) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Token ids and probabilities of the nucleus, most likely first (at least one token)."""
    k = min(_NUCLEUS_CANDIDATES, probs.size)
    candidates = np.argpartition(probs, -k)[-k:] if k < probs.size else np.arange(probs.size)
    order = candidates[np.argsort(probs[candidates])[::-1]]
    cumulative = np.cumsum(probs[order])
    if cumulative[-1] < top_p and k < probs.size:  # the nucleus is wider than the candidates
        order = np.argsort(probs)[::-1]
        cumulative = np.cumsum(probs[order])
    size = int(np.searchsorted(cumulative, top_p, side="left")) + 1
    size = min(size, order.size)
    return order[:size], probs[order[:size]]


class Sampler:
    """Chooses one token from next-token logits. One instance per choice: it owns the random stream."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self._rng = np.random.default_rng(params.seed if params.seed is None else params.seed % 2**64)

    def choose(self, logits: Logits) -> int:
        if self.params.temperature == 0:
            return int(np.argmax(logits))
        probs = softmax(logits, self.params.temperature)
        if self.params.top_p >= 1.0:
            ids: NDArray[np.intp] = np.arange(probs.size)
            weights = probs
        else:
            ids, weights = nucleus(probs, self.params.top_p)
        cumulative = np.cumsum(weights)
        draw = self._rng.random() * cumulative[-1]
        index = min(int(np.searchsorted(cumulative, draw, side="right")), ids.size - 1)
        return int(ids[index])
