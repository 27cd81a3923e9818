"""The spoken evaluation set (tests/data/spoken_questions.tsv): short factual questions with accepted
answers, spoken at test or benchmark time by synthetic voices that are not the server's recogniser's
training data (flite slt/rms/awb/kal, Piper joe, espeak-ng), at two speaking rates, some with mild noise.

Each question has one condition (voice, rate, noise), assigned by its row so that every voice, both rates
and the noise appear in both halves. Rows alternate between the tuning half and the held-out half.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omnivox.audio.decode import AudioLimits, decode
from omnivox.audio.encode import encode
from omnivox.audio.pcm import Audio
from omnivox.runtimes.synthesis import SpeechSynthesizer

QUESTIONS = Path(__file__).parent.parent / "data" / "spoken_questions.tsv"
VOICES = ("flite-slt", "flite-rms", "flite-awb", "flite-kal", "piper-joe", "espeak-ng")
FAST = 1.25  # the second speaking rate (speed factor)
NOISE_SNR_DB = 25.0  # mild white noise


@dataclass(frozen=True, slots=True)
class Question:
    row: int
    split: str  # "tune" or "held"
    text: str
    answers: tuple[str, ...]
    voice: str
    speed: float
    noisy: bool

    @property
    def condition(self) -> str:
        return f"{self.voice}{' fast' if self.speed != 1.0 else ''}{' noisy' if self.noisy else ''}"


def load_questions(split: str | None = None) -> list[Question]:
    rows = [
        line.split("\t")
        for line in QUESTIONS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    questions = [
        Question(
            row=i,
            split=part,
            text=text,
            answers=tuple(a.strip() for a in answers.split("|")),
            voice=VOICES[(i // 2) % len(VOICES)],
            speed=FAST if (i // 12) % 2 else 1.0,
            noisy=i % 3 == 2,
        )
        for i, (part, text, answers) in enumerate(rows)
    ]
    return [q for q in questions if split is None or q.split == split]


def is_correct(answer: str, accepted: tuple[str, ...]) -> bool:
    """Whether one accepted answer occurs in `answer` as whole words (case and punctuation ignored)."""
    said = " " + " ".join(words(answer)) + " "
    return any(" " + " ".join(words(a)) + " " in said for a in accepted)


def words(text: str) -> list[str]:
    """Lower-case words, punctuation dropped, numbers written out ("24" -> "twenty four")."""
    text = re.sub(r"(\d),(\d{3})", r"\1\2", text.lower()).replace("-", " ")
    text = re.sub(r"\d+", lambda m: spell_number(int(m.group())), text)
    return re.sub(r"[^a-z' ]+", " ", text).split()


_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def spell_number(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + spell_number(rest))
    if n < 1_000_000:
        rest = n % 1000
        return spell_number(n // 1000) + " thousand" + ("" if rest == 0 else " " + spell_number(rest))
    return " ".join(_ONES[int(d)] for d in str(n))


def speak(question: Question, cache: Path) -> Path:
    """A 16-bit WAV of the question in its condition (made once into `cache`)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"q{question.row:02d}-{question.condition.replace(' ', '-')}.wav"
    if path.is_file():
        return path
    audio = _synthesize(question.text, question.voice, question.speed)
    if question.noisy:
        rng = np.random.default_rng(question.row)
        power = float(np.mean(audio.samples**2))
        noise = rng.normal(0.0, np.sqrt(power / 10 ** (NOISE_SNR_DB / 10)), audio.samples.shape)
        audio = Audio((audio.samples + noise).astype(np.float32), audio.sample_rate)
    path.write_bytes(encode(audio, "wav"))
    return path


def _synthesize(text: str, voice: str, speed: float) -> Audio:
    kind, _, name = voice.partition("-")
    if kind == "flite":
        command = ["flite", "-voice", name, "--setf", f"duration_stretch={1 / speed:.3f}", "-t", text, "-o"]
        return _from_command(command)
    if kind == "espeak":
        if shutil.which("espeak-ng") is None:
            raise RuntimeError("espeak-ng is needed for the spoken evaluation set (Debian package espeak-ng)")
        return _from_command(["espeak-ng", "-v", "en-us", "-s", str(round(165 * speed)), "-w"], text)
    if "joe" not in _PIPER:
        from omnivox.config import VoiceSettings
        from omnivox.serving.registry import load_voice

        joe = VoiceSettings(id="joe", backend="piper", source="embedded:en_US-joe-medium")
        _PIPER["joe"] = load_voice(joe)
    pieces = list(_PIPER["joe"].synthesize(text, speed=speed))
    return Audio(np.concatenate([p.samples for p in pieces]), pieces[0].sample_rate)


_PIPER: dict[str, SpeechSynthesizer] = {}


def _from_command(command: list[str], text: str | None = None) -> Audio:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".wav") as out:
        args = [*command, out.name] + ([text] if text is not None else [])
        subprocess.run(args, check=True, capture_output=True)
        return decode(Path(out.name).read_bytes(), "wav", AudioLimits())
