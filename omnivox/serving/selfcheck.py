"""Start-up self-check: every configured model runs once before the server listens (one decode step per
language model, one recognition of a short generated clip per recogniser, one sentence per voice), so a
model that cannot run on this machine stops `omnivox serve` with its name and the likely cause, instead of
killing the first request.

A native crash (an illegal instruction, a CPU feature the OS or hypervisor refuses, as AMX tiles were on
one Intel VM) cannot be caught inside the process it kills. So each language model is first probed in a
child process (`python -m omnivox.serving.selfcheck`): one load and one decode step, with faulthandler
on; when the child dies by a signal, the parent reports it with the child's Python stack.
"""

from __future__ import annotations

import asyncio
import faulthandler
import functools
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from omnivox.audio.pcm import Audio
from omnivox.config import LanguageModelSettings, ModelSettings
from omnivox.errors import ModelLoadError
from omnivox.runtimes.chat_model import ChatModel, Conversation, GenerationSpec
from omnivox.runtimes.language_model import LanguageModel
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from omnivox.sampling.sampler import SamplingParams
from omnivox.serving.catalog import ModelCatalog
from omnivox.serving.registry import load_llama_cpp

log = logging.getLogger("omnivox.selfcheck")

#: Window of the probe's context: enough for one short prompt, small enough to allocate in a moment.
PROBE_WINDOW = 256
PROBE_TIMEOUT_SECONDS = 600.0
#: Several tokens, so that the probe runs the batched kernels a prompt runs (a one-token decode did not:
#: llama.cpp built with AMX on an Intel VM decoded one token fine and crashed on any batch of two or more).
_PROBE_TEXT = "Hello! Please say something short about the weather today."


class SelfCheckFailed(ModelLoadError):
    """A configured model loaded but cannot run here."""


@dataclass(frozen=True, slots=True)
class Checked:
    kind: str  # "chat model", "speech model", "voice"
    id: str
    seconds: float


def _likely_cause(signum: int) -> str:
    if signum in (signal.SIGILL, signal.SIGSEGV, signal.SIGBUS):
        return (
            "the installed llama.cpp uses CPU instructions this machine cannot run (a build compiled for "
            "another CPU, or one using AMX, which needs support from the kernel and the hypervisor). "
            "Reinstall the portable build with scripts/bootstrap.sh; see docs/install.md"
        )
    return "the model's native runtime crashed; see the stack above"


def probe_isolated(entry: LanguageModelSettings, *, timeout: float = PROBE_TIMEOUT_SECONDS) -> float:
    """Load `entry` and run one decode step in a child process; returns its seconds. Raises
    SelfCheckFailed when the child dies by a signal. A child that fails in Python (a file not found, a bad
    setting) is left to the in-process load, which reports the same error with its own message."""
    started = time.monotonic()
    command = [sys.executable, "-m", "omnivox.serving.selfcheck", entry.model_dump_json()]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SelfCheckFailed(
            f"model {entry.id!r} did not finish one decode step within {timeout:.0f} s at start-up"
        ) from None
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        stack = result.stderr.strip()
        if stack:
            log.error("the self-check of %r died by %s; its output:\n%s", entry.id, name, stack[-4000:])
        raise SelfCheckFailed(
            f"model {entry.id!r} crashed with {name} when loaded and run once at start-up: "
            f"{_likely_cause(-result.returncode)}"
        )
    return time.monotonic() - started


async def _generate(model: ChatModel) -> None:
    spec = GenerationSpec(SamplingParams(temperature=0.0), max_tokens=1, stop=())
    prompt = await model.prompt(Conversation([{"role": "user", "content": _PROBE_TEXT}]), spec)
    events = model.generate(prompt, spec)
    try:
        await events.ready()
        async for _event in events:
            pass
    finally:
        events.cancel()


def _answer_once(model: ChatModel) -> None:
    """One token of an answer, through the chat-model contract as a request would (an upstream model: one
    request to its server)."""
    asyncio.run(_generate(model))


def _decode_once(model_id: str, runtime: LanguageModel) -> None:
    tokens = runtime.tokenize(_PROBE_TEXT)
    logits = runtime.evaluate(tokens).logits
    if not np.isfinite(logits).any():
        raise SelfCheckFailed(f"model {model_id!r} gave no finite logits for its first decode step")
    runtime.append(int(np.argmax(logits)))


def _tone(seconds: float = 1.0, rate: int = 16000) -> Audio:
    """A short generated clip: a 440 Hz tone at -12 dBFS."""
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    return Audio((0.25 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32), rate)


def _recognise_once(runtime: SpeechRecognizer, clip: Audio) -> None:
    for _segment in runtime.recognize(clip, word_timestamps=False).segments:
        pass


def _speak_once(voice_id: str, runtime: SpeechSynthesizer, spoken: list[Audio]) -> None:
    pieces = list(runtime.synthesize("Ready to talk."))
    if sum(audio.samples.size for audio in pieces) == 0:
        raise SelfCheckFailed(f"voice {voice_id!r} produced no audio for a test sentence")
    spoken.extend(pieces)


def _timed(kind: str, model_id: str, run: Callable[[], None]) -> Checked:
    started = time.monotonic()
    try:
        run()
    except SelfCheckFailed:
        raise
    except Exception as exc:
        raise SelfCheckFailed(f"{kind} {model_id!r} failed its start-up check: {exc}") from exc
    checked = Checked(kind, model_id, time.monotonic() - started)
    log.info("self-check: %s %r ran in %.2f s", kind, model_id, checked.seconds)
    return checked


def check_catalog(catalog: ModelCatalog) -> list[Checked]:
    """Run every loaded model once, in this process (at start-up, before any request). The recognisers
    hear what the first voice said (a tone when there is no voice: silence-trimming may drop it whole)."""
    checked = [_timed("chat model", m.id, functools.partial(_answer_once, m.model)) for m in catalog.models]
    spoken: list[Audio] = []
    for v in catalog.voices:
        checked.append(_timed("voice", v.id, functools.partial(_speak_once, v.id, v.runtime, spoken)))
    clip = spoken[0] if spoken else _tone()
    for r in catalog.speech:
        checked.append(_timed("speech model", r.id, functools.partial(_recognise_once, r.runtime, clip)))
    return checked


def probe_all(entries: Iterable[ModelSettings]) -> None:
    """Probe each model that runs native code in this process (llama.cpp) in a child process first."""
    for entry in entries:
        if not isinstance(entry, LanguageModelSettings):
            continue
        seconds = probe_isolated(entry)
        log.info("self-check: %r ran one decode step in a child process in %.2f s", entry.id, seconds)


def _child(settings_json: str) -> int:
    """The probe's child process: load with a small window and no prompt cache, decode once."""
    faulthandler.enable()
    entry = LanguageModelSettings.model_validate_json(settings_json)
    entry = entry.model_copy(update={"context_window": PROBE_WINDOW, "prompt_cache_mib": 0})
    try:
        runtime = load_llama_cpp(entry)
        _decode_once(entry.id, runtime)
    except ModelLoadError as exc:
        print(f"omnivox self-check: {exc}", file=sys.stderr)
        return 3
    runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
