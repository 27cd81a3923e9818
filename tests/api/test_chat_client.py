"""`omnivox chat` as a process against a live server (fake language model, real flite voice and Whisper
tiny.en): typed and spoken turns print the streamed answer, the user's words, a progress line, and save
audible audio; API errors and keys; the interactive loop."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from omnivox.audio.pcm import dbfs
from omnivox.client.chat import Spinner
from omnivox.config import VoiceSettings
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from omnivox.serving.registry import load_voice
from tests.conftest import serve_fake
from tests.support.fakes import FakeLanguageModel


@pytest.fixture(scope="module")
def slt() -> Iterator[SpeechSynthesizer]:
    voice = load_voice(VoiceSettings(id="slt", backend="flite", source="slt"))
    yield voice
    voice.close()


@pytest.fixture(scope="module")
def server(tiny_whisper: SpeechRecognizer, slt: SpeechSynthesizer) -> Iterator[str]:
    # confident enough that sampling at temperature 1 always follows the script
    model = FakeLanguageModel(confidence=40.0)
    with serve_fake(model, speech=[tiny_whisper], voices={"slt": slt}) as (url, _):
        yield url


def chat(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnivox", "chat", "--no-play", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _level(path: Path) -> tuple[int, float]:
    with wave.open(str(path)) as saved:
        pcm = saved.readframes(saved.getnframes())
        rate = saved.getframerate()
    return rate, dbfs(np.frombuffer(pcm, "<i2").astype(np.float32) / 32768)


def test_typed_turn_prints_the_answer_and_saves_its_audio(server: str, tmp_path: Path) -> None:
    done = chat("--base-url", server, "--say", "hello from the terminal", "--save", str(tmp_path / "a.wav"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "You said: hello from the terminal"
    assert "waiting for the answer" in done.stderr and "saved" in done.stderr
    rate, level = _level(tmp_path / "a.wav")
    assert rate == 24000 and level > -40


def test_spoken_turn_shows_the_words_heard(
    server: str, librivox: list[tuple[Path, str]], tmp_path: Path
) -> None:
    clip, reference = librivox[0]
    done = chat("--base-url", server, "--wav", str(clip), "--text-only")
    assert done.returncode == 0, done.stderr
    heard, answer = done.stdout.splitlines()[:2]
    assert heard.startswith("you said: ")
    words = set(reference.lower().split())
    assert len(words & set(heard.lower().replace(",", "").replace(".", "").split())) >= len(words) // 2
    assert answer.startswith("You said: ") and "[audio" not in answer  # the words, as if typed


def test_api_errors_are_reported(server: str) -> None:
    done = chat("--base-url", server, "--model", "no-such-model", "--say", "hi")
    assert done.returncode == 1
    assert "404" in done.stderr and "no-such-model" in done.stderr
    unreachable = chat("--base-url", "http://127.0.0.1:9", "--say", "hi")
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr


def test_api_key() -> None:
    with serve_fake(FakeLanguageModel(confidence=40.0), api_keys=["sk-chat-test"]) as (url, _fake):
        refused = chat("--base-url", url, "--say", "hi", "--text-only")
        assert refused.returncode == 1 and "401" in refused.stderr
        done = chat("--base-url", url, "--api-key", "sk-chat-test", "--say", "hi", "--text-only")
        assert done.returncode == 0 and done.stdout.strip() == "You said: hi"


def test_interactive_loop(server: str) -> None:
    done = chat("--base-url", server, "--text-only", stdin="first\n/nonsense\n/reset\nsecond\n/quit\n")
    assert done.returncode == 0, done.stderr
    assert "You said: first" in done.stdout and "You said: second" in done.stdout
    assert "/wav FILE" in done.stderr  # the help, for an unknown command


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_spinner_counts_the_seconds_on_a_terminal() -> None:
    terminal = _Terminal()
    with Spinner(terminal, every=0.01):
        time.sleep(0.1)
    shown = terminal.getvalue()
    assert "\r" in shown and "waiting for the answer" in shown and " s" in shown
    assert shown.endswith("\r\033[K")  # the line is cleared for the answer
