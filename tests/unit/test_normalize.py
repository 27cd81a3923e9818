"""Sums of money are rewritten before synthesis: Piper's phonemizer (espeak-ng) reads "$12.50" as
"dollar twelve point five zero"."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from omnivox.synthesis.normalize import for_speech


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("It costs $12.50, which is 20% less.", "It costs 12 dollars 50 cents, which is 20% less."),
        ("$1", "1 dollar"),
        ("$0.99", "99 cents"),
        ("$3.00", "3 dollars"),
        ("£3.01 and €1,000.00", "3 pounds 1 penny and 1,000 euros"),
        ("$12.50.", "12 dollars 50 cents."),
        (
            "The train leaves at 7:45 on the 3rd; 20% of 365.",
            "The train leaves at 7:45 on the 3rd; 20% of 365.",
        ),
        ("$1,234.5", "$1,234.5"),  # not a sum as written: left to the voice
    ],
)
def test_money_is_spelled_as_amount_and_unit(text: str, said: str) -> None:
    assert for_speech(text) == said


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (Debian package) not installed")
def test_the_phonemizer_says_the_amount_before_the_unit() -> None:
    def phonemes(text: str) -> str:
        run = subprocess.run(["espeak-ng", "-q", "-x", "-v", "en-us", text], capture_output=True, text=True)
        return run.stdout

    assert phonemes("$12.50").split()[0].startswith("d'0l")  # as written: "dollar twelve point five zero"
    said = phonemes(for_speech("$12.50")).split()
    assert said[0] == "tw'Elv" and said[1].startswith("d'0l")  # "twelve dollars fifty cents"
