"""omnivox's own sampler: the same OpenAI semantics over the logits of every backend.

For each token of a choice, in this order:

1. `logit_bias`: the bias is added to the raw logit; -100 bans the token outright (-inf), +100 all but
   forces it.
2. penalties, over the tokens this choice generated so far (OpenAI's formula):
   logit[t] -= count[t] * frequency_penalty + (count[t] > 0) * presence_penalty
3. the *adjusted* logits of steps 1-2 are what `logprobs` report (log-softmax at temperature 1, before
   top_p: a property of the model and the request, not of the sampling randomness).
4. temperature 0: argmax. Otherwise p = softmax(adjusted / temperature), nucleus filtering (`top_p`: the
   smallest set of most likely tokens whose probabilities sum to at least top_p), one draw from the
   renormalised nucleus with the choice's own random stream.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from omnivox.tokens import Logits

#: Candidates examined before falling back to a full sort for top_p (a partial sort is much cheaper).
_NUCLEUS_CANDIDATES = 128
BAN = -100.0


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = 1.0  # 0..2, 0 greedy
    top_p: float = 1.0  # 0..1
    seed: int | None = None  # None: fresh entropy per request
    frequency_penalty: float = 0.0  # -2..2
    presence_penalty: float = 0.0  # -2..2
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, -100..100)


def softmax(logits: Logits, temperature: float = 1.0) -> NDArray[np.float64]:
    scaled = logits.astype(np.float64) / temperature
    scaled -= scaled.max()
    np.exp(scaled, out=scaled)
    scaled /= scaled.sum()
    return scaled


def log_sum_exp(logits: Logits) -> float:
    """log(sum(exp(logits))), stably: log_softmax(logits)[t] == logits[t] - log_sum_exp(logits)."""
    peak = float(logits.max())
    return peak + float(np.log(np.exp(logits - peak, dtype=np.float64).sum()))


def log_softmax(logits: Logits) -> NDArray[np.float64]:
    result: NDArray[np.float64] = logits.astype(np.float64) - log_sum_exp(logits)
    return result


def top_indices(logits: Logits, k: int) -> NDArray[np.intp]:
    """Indices of the `k` largest logits, largest first. Exact; fast because a softmax puts almost all
    tokens far below the best: only those within a margin of the maximum are partially sorted."""
    k = min(k, logits.size)
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    peak = logits.max()
    candidates = np.arange(logits.size)
    for margin in (8.0, 16.0, 32.0):
        near = np.flatnonzero(logits >= peak - margin)
        if near.size >= k:  # then the k largest are all within the margin
            candidates = near
            break
    if candidates.size > k:
        candidates = candidates[np.argpartition(logits[candidates], -k)[-k:]]
    ordered: NDArray[np.intp] = candidates[np.argsort(logits[candidates], kind="stable")[::-1]]
    return ordered


def nucleus(
    logits: Logits, probs: NDArray[np.float64], top_p: float
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Token ids and probabilities of the nucleus of `probs` (= softmax of `logits`), most likely first
    (at least one token)."""
    order = top_indices(logits, _NUCLEUS_CANDIDATES)
    cumulative = np.cumsum(probs[order])
    if cumulative[-1] < top_p and order.size < probs.size:  # the nucleus is wider than the candidates
        order = np.argsort(probs)[::-1]
        cumulative = np.cumsum(probs[order])
    size = int(np.searchsorted(cumulative, top_p, side="left")) + 1
    size = min(size, order.size)
    return order[:size], probs[order[:size]]


def choice_rng(seed: int | None, choice: int) -> np.random.Generator:
    """Choice `choice`'s random stream: derived from `seed` (reproducible) or from fresh entropy."""
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(np.random.SeedSequence([seed % 2**64, choice]))


class Sampler:
    """Samples one choice: owns its random stream and the counts of the tokens it generated."""

    def __init__(self, params: SamplingParams, choice: int = 0) -> None:
        self.params = params
        self._rng = choice_rng(params.seed, choice)
        self._counts: Counter[int] = Counter()
        self._penalised = bool(params.frequency_penalty or params.presence_penalty)
        ids = [t for t, _ in params.logit_bias]
        self._bias_ids = np.asarray(ids, dtype=np.intp)
        self._bias = np.asarray([-np.inf if b <= BAN else b for _, b in params.logit_bias], dtype=np.float32)

    def adjust(self, logits: Logits) -> Logits:
        """Steps 1-2: logit_bias and penalties, applied to `logits` in place (the caller's own copy)."""
        if self._bias_ids.size:
            logits[self._bias_ids] += self._bias
        if self._penalised and self._counts:
            ids = np.fromiter(self._counts.keys(), dtype=np.intp, count=len(self._counts))
            counts = np.fromiter(self._counts.values(), dtype=np.float32, count=len(self._counts))
            logits[ids] -= counts * self.params.frequency_penalty + self.params.presence_penalty
        return logits

    def choose(self, adjusted: Logits) -> int:
        """Step 4, on logits already adjusted."""
        if self.params.temperature == 0:
            return int(np.argmax(adjusted))
        probs = softmax(adjusted, self.params.temperature)
        if self.params.top_p >= 1.0:
            ids: NDArray[np.intp] = np.arange(probs.size)
            weights = probs
        else:
            ids, weights = nucleus(adjusted, probs, self.params.top_p)
        cumulative = np.cumsum(weights)
        draw = self._rng.random() * cumulative[-1]
        index = min(int(np.searchsorted(cumulative, draw, side="right")), ids.size - 1)
        return int(ids[index])

    def observe(self, token: int) -> None:
        """Record a generated token (for the penalties)."""
        self._counts[token] += 1
