"""Text a voice would misread is rewritten before synthesis: Piper's phonemizer (espeak-ng) reads "$12.50"
as "dollar twelve point five zero"; flite drops "°" and "+", says "ampersand", spells "e.g."; both spell
"km" letter by letter and say "hash" for "#"."""

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
        ("¥100", "100 yen"),
    ],
)
def test_money_is_spelled_as_amount_and_unit(text: str, said: str) -> None:
    assert for_speech(text) == said


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "Water boils at 100°C, or 212 °F.",
            "Water boils at 100 degrees Celsius, or 212 degrees Fahrenheit.",
        ),
        ("It is 30° off.", "It is 30 degrees off."),
        ("Salt & pepper, R&D.", "Salt and pepper, R and D."),
        ("Room #4 and No. 5.", "Room number 4 and number 5."),
        ("We know that 2 + 2 = 4 and x+y=z.", "We know that 2 plus 2 equals 4 and x plus y equals z."),
        ("3 \u00d7 4 or 3 x 4, but 3x faster.", "3 times 4 or 3 times 4, but 3x faster."),
        ("C++ and +1 555.", "C++ and plus 1 555."),  # "C++" is left: "+" between words only
        ("10 ÷ 2", "10 divided by 2"),
        ("e.g. a drive, i.e. short", "for example a drive, that is short"),
        ("cats vs. dogs, approx. 5", "cats versus dogs, approximately 5"),
        (
            "5 km, 1 km, 50 km/h, 2.5 kg, 10 GB, 1,000 mph",
            "5 kilometers, 1 kilometer, 50 kilometers per hour, "
            "2.5 kilograms, 10 gigabytes, 1,000 miles per hour",
        ),
        ("5 kmh and km alone", "5 kmh and km alone"),
        ("1/2 cup and 3/4 of it", "one half cup and three quarters of it"),
        ("12/25/2024, 5/3, 1/2/3, 0.1/2", "12/25/2024, 5/3, 1/2/3, 0.1/2"),  # dates, ratios: left alone
        (
            "Dr. Smith lives at 221 Baker St. in St. Louis.",
            "Dr. Smith lives at 221 Baker Street in Saint Louis.",
        ),
    ],
)
def test_symbols_units_and_abbreviations_are_spelled(text: str, said: str) -> None:
    assert for_speech(text) == said


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng (Debian package) not installed")
def test_the_phonemizer_says_the_amount_before_the_unit() -> None:
    def phonemes(text: str) -> str:
        run = subprocess.run(["espeak-ng", "-q", "-x", "-v", "en-us", text], capture_output=True, text=True)
        return run.stdout

    assert phonemes("$12.50").split()[0].startswith("d'0l")  # as written: "dollar twelve point five zero"
    said = phonemes(for_speech("$12.50")).split()
    assert said[0] == "tw'Elv" and said[1].startswith("d'0l")  # "twelve dollars fifty cents"
