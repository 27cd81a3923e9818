from __future__ import annotations

import numpy as np
import pytest

from omnivox.sampling.sampler import Sampler, SamplingParams, nucleus, softmax, top_indices


def _logits(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def test_temperature_zero_is_argmax() -> None:
    rng = np.random.default_rng(0)
    sampler = Sampler(SamplingParams(temperature=0.0))
    for _ in range(50):
        logits = rng.normal(size=1000).astype(np.float32)
        assert sampler.choose(logits) == int(np.argmax(logits))


def test_sampling_follows_softmax_at_temperature() -> None:
    logits = _logits([2.0, 1.0, 0.0, -1.0])
    sampler = Sampler(SamplingParams(temperature=0.7, seed=1))
    draws = np.bincount([sampler.choose(logits) for _ in range(20_000)], minlength=4) / 20_000
    expected = np.exp(logits / 0.7) / np.exp(logits / 0.7).sum()
    np.testing.assert_allclose(draws, expected, atol=0.015)


def test_higher_temperature_flattens() -> None:
    logits = _logits([3.0, 0.0])
    cold = Sampler(SamplingParams(temperature=0.5, seed=2))
    hot = Sampler(SamplingParams(temperature=2.0, seed=2))
    cold_share = np.mean([cold.choose(logits) == 0 for _ in range(5000)])
    hot_share = np.mean([hot.choose(logits) == 0 for _ in range(5000)])
    assert cold_share > 0.99 and 0.75 < hot_share < 0.87  # softmax([1.5, 0]) = 0.818


def test_top_p_never_samples_outside_the_nucleus() -> None:
    # probabilities ~ [0.5, 0.3, 0.15, 0.05]: top_p 0.75 keeps the first two
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    sampler = Sampler(SamplingParams(temperature=1.0, top_p=0.75, seed=3))
    draws = [sampler.choose(np.log(probs).astype(np.float32)) for _ in range(5000)]
    assert set(draws) == {0, 1}
    assert abs(np.mean(np.asarray(draws) == 0) - 0.5 / 0.8) < 0.03


def test_top_p_zero_is_greedy() -> None:
    sampler = Sampler(SamplingParams(temperature=1.5, top_p=0.0, seed=4))
    logits = _logits([0.1, 0.3, 0.2])
    assert {sampler.choose(logits) for _ in range(200)} == {1}


def test_nucleus_wider_than_candidates_falls_back_to_full_sort() -> None:
    logits = np.zeros(1000, dtype=np.float32)
    ids, weights = nucleus(logits, softmax(logits), 0.9)
    assert len(ids) == 900 and weights.sum() == pytest.approx(0.9)


@pytest.mark.parametrize("scale", [0.01, 1.0, 5.0, 50.0])
@pytest.mark.parametrize("k", [0, 1, 5, 20, 128])
def test_top_indices_is_exact(scale: float, k: int) -> None:
    logits = (np.random.default_rng(int(scale * 100) + k).normal(size=5000) * scale).astype(np.float32)
    logits[7] = -np.inf  # a banned token
    expected = np.argsort(logits, kind="stable")[::-1][:k]
    assert np.array_equal(logits[top_indices(logits, k)], logits[expected])


def test_same_seed_same_draws_other_seed_differs() -> None:
    logits = np.random.default_rng(5).normal(size=500).astype(np.float32)

    def run(seed: int) -> list[int]:
        sampler = Sampler(SamplingParams(temperature=1.0, top_p=0.95, seed=seed))
        return [sampler.choose(logits) for _ in range(64)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_softmax_is_normalised_and_stable() -> None:
    probs = softmax(_logits([1000.0, 999.0, -1000.0]))
    assert probs.sum() == pytest.approx(1.0)
    assert probs[0] / probs[1] == pytest.approx(np.e)


def test_logit_bias_adds_bans_and_forces() -> None:
    sampler = Sampler(SamplingParams(temperature=1.0, seed=1, logit_bias=((0, -100.0), (1, 2.5), (3, 100.0))))
    adjusted = sampler.adjust(_logits([5.0, 1.0, 0.0, -3.0]))
    assert adjusted[0] == -np.inf and adjusted[1] == 3.5 and adjusted[2] == 0.0 and adjusted[3] == 97.0
    assert {sampler.choose(adjusted) for _ in range(500)} == {3}


def test_penalties_follow_the_formula_over_generated_tokens() -> None:
    sampler = Sampler(SamplingParams(frequency_penalty=0.5, presence_penalty=0.25))
    for token in (2, 2, 2, 4):
        sampler.observe(token)
    adjusted = sampler.adjust(np.zeros(6, dtype=np.float32))
    np.testing.assert_allclose(adjusted, [0, 0, -(3 * 0.5 + 0.25), 0, -(0.5 + 0.25), 0])


def test_choices_draw_from_different_streams_of_one_seed() -> None:
    logits = np.zeros(1000, dtype=np.float32)
    draws = [
        [Sampler(SamplingParams(seed=9), choice).choose(logits) for _ in range(1)] for choice in range(5)
    ]
    assert len({d[0] for d in draws}) > 1
    assert Sampler(SamplingParams(seed=9), 2).choose(logits) == draws[2][0]
