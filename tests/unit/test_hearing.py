"""What the language model reads for an audio part (`[audio] cues`): a lone spoken question is the words
said, as if typed; cues appear only when they carry information, compact; `always` and `never` as
documented (docs/audio-input.md)."""

from __future__ import annotations

import numpy as np
import pytest

from omnivox.audio.pcm import Audio
from omnivox.chat.hearing import render_heard
from omnivox.chat.messages import AudioPart, PlannedMessage, lone_audio, render
from omnivox.config import AudioSettings
from omnivox.runtimes.speech import Segment, Transcript, Word

QUESTION = "What is the capital of France?"


def _speech(level: float = 0.1, seconds: float = 2.0, clip: bool = False) -> Audio:
    t = np.arange(int(16_000 * seconds)) / 16_000
    samples = (level * np.sqrt(2) * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    if clip:
        samples[:200] = 1.0
    return Audio(samples, 16_000)


def _transcript(
    text: str = QUESTION,
    *,
    gap_after: int | None = None,
    gap: float = 0.0,
    language: str = "en",
    no_speech: bool = False,
) -> Transcript:
    words, start = [], 0.0
    for i, word in enumerate(text.split()):
        words.append(Word(start, start + 0.3, " " + word, 0.9))
        start += 0.35 + (gap if i == gap_after else 0.0)
    segment = Segment(
        id=0,
        seek=0,
        start=0.0,
        end=start,
        text=" " + text,
        tokens=(),
        words=tuple(words),
        avg_logprob=-2.0 if no_speech else -0.2,
        no_speech_prob=0.9 if no_speech else 0.01,
        compression_ratio=1.0,
        temperature=0.0,
    )
    return Transcript(text, language, 0.99, 2.0, start, (segment,))


def _render(audio: Audio, transcript: Transcript, cues: str = "auto", lone: bool = True) -> str:
    return render_heard(1, audio, transcript, cues=cues, lone=lone)  # type: ignore[arg-type]


def test_a_lone_plain_question_is_the_words_alone() -> None:
    assert _render(_speech(), _transcript()) == QUESTION


def test_the_default_is_auto() -> None:
    assert AudioSettings().cues == "auto"


def test_a_long_pause_is_noted_after_the_words() -> None:
    said = _render(_speech(), _transcript(gap_after=3, gap=1.2))
    assert said == QUESTION + '\n(1.2 s pause after "capital")'


def test_a_short_pause_says_nothing() -> None:
    assert _render(_speech(), _transcript(gap_after=3, gap=0.3)) == QUESTION


def test_very_quiet_speech_is_noted() -> None:
    assert _render(_speech(level=0.003), _transcript()) == QUESTION + "\n(very quiet)"


def test_clipping_is_noted() -> None:
    assert _render(_speech(clip=True), _transcript()) == QUESTION + "\n(clipped)"


def test_no_speech_gives_no_words() -> None:
    said = _render(_speech(), _transcript("Thank you.", no_speech=True))
    assert said == "(no speech heard)"
    assert "Thank" not in said  # Whisper's hallucination on silence is not passed on


def test_another_language_is_named() -> None:
    assert _render(_speech(), _transcript("Quelle heure est-il ?", language="fr")) == (
        "Quelle heure est-il ?\n(language: fr)"
    )


def test_a_part_beside_text_or_other_parts_is_labelled_and_quoted() -> None:
    assert _render(_speech(), _transcript(), lone=False) == f'[audio 1] "{QUESTION}"'
    assert _render(_speech(level=0.003), _transcript(), lone=False) == f'[audio 1; very quiet] "{QUESTION}"'
    assert _render(_speech(), _transcript("x", no_speech=True), lone=False) == "[audio 1; no speech heard]"


def test_always_gives_every_cue() -> None:
    said = _render(_speech(), _transcript(), cues="always")
    header, _, quoted = said.partition("\n")
    assert header.startswith("[audio input 1: 2.0 s; language: en; speaking rate: ")
    assert "loudness: -20 dBFS" in header
    assert quoted == f'"{QUESTION}"'


def test_never_gives_the_words_alone() -> None:
    assert _render(_speech(level=0.003, clip=True), _transcript(gap_after=1, gap=2.0), "never") == QUESTION
    assert _render(_speech(), _transcript(), "never", lone=False) == QUESTION


@pytest.mark.parametrize(
    ("content", "lone"),
    [
        ((AudioPart(1, "p", b"", "wav"),), {1}),
        (("", AudioPart(1, "p", b"", "wav"), ""), {1}),
        (("Listen:", AudioPart(1, "p", b"", "wav")), set()),
        ((AudioPart(1, "p", b"", "wav"), AudioPart(2, "q", b"", "wav")), set()),
    ],
)
def test_lone_audio(content: tuple[object, ...], lone: set[int]) -> None:
    assert lone_audio([PlannedMessage({"role": "user"}, content)]) == lone  # type: ignore[arg-type]


def test_a_lone_part_renders_as_the_typed_message() -> None:
    spoken = PlannedMessage({"role": "user"}, (AudioPart(1, "p", b"", "wav"),))
    typed = PlannedMessage({"role": "user"}, (QUESTION,))
    heard = [_render(_speech(), _transcript())]
    assert render([spoken], heard, {}) == render([typed], [], {})
