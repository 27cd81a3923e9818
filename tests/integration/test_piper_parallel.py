"""Piper speaking several texts at once (`parallel`): the same speech as one after another (the same
phonemes, so the same lengths, and the same samples up to float rounding), since espeak-ng phonemises
under one lock and onnxruntime runs the network concurrently; and the network runs truly overlap."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from piper import PiperVoice

from omnivox.backends.piper import PiperSynthesizer
from omnivox.serving.registry import EMBEDDED_VOICES

pytestmark = pytest.mark.model

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France. It lies on the Seine!",
    "One, two, three, four: is that enough for you?",
    "Numbers like 42 and words like thorough, through and though.",
]


@pytest.fixture(scope="module")
def joe() -> PiperSynthesizer:
    """Joe with two lanes and no noise: a text always gives the same samples."""
    return PiperSynthesizer(EMBEDDED_VOICES["en_US-joe-medium"](), parallel=2, noise=False)


def _said(voice: PiperSynthesizer, text: str) -> list[np.ndarray]:
    return [audio.samples for audio in voice.synthesize(text)]


def test_concurrent_speech_is_the_serial_speech(joe: PiperSynthesizer) -> None:
    serial = [_said(joe, text) for text in TEXTS]
    start = threading.Barrier(len(TEXTS))

    def together(text: str) -> list[np.ndarray]:
        start.wait()  # every thread phonemises and runs at the same moment
        return _said(joe, text)

    for _ in range(2):
        with ThreadPoolExecutor(len(TEXTS)) as pool:
            concurrent = list(pool.map(together, TEXTS))
        for alone, beside in zip(serial, concurrent, strict=True):
            assert [len(a) for a in alone] == [len(b) for b in beside]
            for a, b in zip(alone, beside, strict=True):
                # a run beside another uses the narrow session, whose sums are split over fewer threads:
                # measured 8.4e-6 apart at most, under a quarter of one pcm16 step (3.05e-5)
                np.testing.assert_allclose(a, b, rtol=0, atol=2e-5)


def test_noise_is_on_by_default() -> None:
    """Speech as it is served: VITS's noise makes two renditions of a text differ (so the test above
    needs `noise=False` to compare samples)."""
    voice = PiperSynthesizer(EMBEDDED_VOICES["en_US-joe-medium"]())
    first, second = (np.concatenate(_said(voice, TEXTS[0])) for _ in range(2))
    assert first.shape != second.shape or not np.array_equal(first, second)


def test_the_network_runs_concurrently(joe: PiperSynthesizer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two texts at once: their network runs overlap in time (phonemisation alone is serialised)."""
    running, most = 0, 0
    lock = threading.Lock()
    sessions = joe._sessions  # the lanes are what is under test
    original = sessions.voice

    @contextlib.contextmanager
    def counted() -> Iterator[PiperVoice]:
        nonlocal running, most
        with original() as voice:
            with lock:
                running += 1
                most = max(most, running)
            try:
                yield voice
            finally:
                with lock:
                    running -= 1

    monkeypatch.setattr(sessions, "voice", counted)
    start = threading.Barrier(2)

    def together(text: str) -> None:
        start.wait()
        for _ in range(3):
            _said(joe, text)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(together, TEXTS[:2]))
    assert most == 2
