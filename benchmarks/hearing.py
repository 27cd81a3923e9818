"""Heard as well as read: a question asked aloud against the same question typed, through the server.

    .venv/bin/python -m benchmarks.hearing [--split held|tune|all] [--speech tiny.en|base]
                                           [--cues auto|always|never] [--judge base|tiny.en] [--no-speech]
                                           [--voices alloy,ash,...] [--threads N] [--verbose]
    .venv/bin/python -m benchmarks.hearing --decoding | --quick [--split ...] [--models base,tiny.en]

The questions are tests/data/spoken_questions.tsv (54 short factual questions with accepted answers, in
a tuning half and a held-out half), spoken at run time by flite slt/rms/awb/kal, Piper joe and espeak-ng,
at two speaking rates, a third of them with mild white noise (tests/support/questions.py; the clips are
cached in ~/.cache/omnivox/bench-hearing). The server is `omnivox serve` in its own process with the
default models (SmolLM2-135M-Instruct, Whisper tiny.en unless `--speech base`); the client is httpx.

Prints, for the chosen split:

- typed accuracy: the typed question's answer contains an accepted answer (system prompt "Answer in one
  short sentence.", temperature 0, at most 32 tokens);
- spoken accuracy: the same for the question sent as an `input_audio` WAV part (alone in its message);
- agreement: the spoken answer is the typed answer word for word, or both are correct;
- transcription WER of the questions through `/v1/audio/transcriptions` (both sides in spoken form:
  numbers and symbols written out, `spoken_words`), and its median latency per clip;
- per OpenAI voice name, the WER of `/v1/audio/speech` round trips of twelve sentences with numbers
  and symbols (spoken form too), heard by an independent recogniser: faster-whisper run in this
  process on Whisper base (`--judge base`, a different and larger model than the server's tiny.en) or
  tiny.en (`--judge tiny.en`, the same weights run directly with faster-whisper's defaults, no
  voice-activity detection).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks import server as bench_server
from benchmarks.server import server_process
from omnivox.audio.decode import AudioLimits, decode
from omnivox.backends.cpu import default_threads
from omnivox.backends.whisper import (
    ENCODER_PADDING_S,
    FALLBACK_TEMPERATURES,
    MEL_FRAMES_PER_S,
    CutWindowWhisper,
    WhisperRecognizer,
)
from omnivox.config import OPENAI_VOICES, QuickPassSettings
from omnivox.serving.registry import resolve_speech_source
from tests.support.questions import Question, is_correct, load_questions, speak, spoken_words, words
from tests.support.wer import word_errors

CACHE = Path("~/.cache/omnivox").expanduser()  # omnivox's default cache_dir (Whisper base is joined there)
CLIPS = CACHE / "bench-hearing"
SYSTEM = "Answer in one short sentence."
MAX_TOKENS = 32
SPEECH = {
    "tiny.en": [{"id": "whisper-tiny.en", "source": "embedded:whisper-tiny.en"}],
    "base": [{"id": "whisper-base", "source": "embedded:whisper-base"}],
}
#: What `/v1/audio/speech` is asked to say: numbers, times, money, percentages, temperatures, fractions,
#: units, symbols and abbreviations (scored in their spoken form, `spoken_words`).
SENTENCES = (
    "Paris is the capital of France.",
    "The train leaves at 7:45 from platform 9.",
    "It costs $12.50, which is 20% less than last year.",
    "Dr. Smith lives at 221 Baker St.",
    "Water boils at 100°C, or 212°F.",
    "Please call me back before Friday afternoon.",
    "There are 365 days in a year and 24 hours in a day.",
    "The meeting moved from March 3rd to the 15th.",
    "Mix 2 cups of flour & 1/2 cup of sugar.",
    "Room #4 is 5 km away, e.g. a short drive.",
    "We know that 2 + 2 = 4.",
    "The file is 10 GB, i.e. about 3 films.",
)


def corpus_wer(pairs: list[tuple[str, str]]) -> float:
    """All word errors over all reference words, both sides in their spoken form (`spoken_words`)."""
    errors = sum(word_errors(spoken_words(ref), spoken_words(hyp)) for ref, hyp in pairs)
    return errors / max(1, sum(len(spoken_words(ref)) for ref, _ in pairs))


def chat(client: httpx.Client, content: Any) -> str:
    body = {
        "model": "gpt-4o-audio-preview",
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}],
    }
    response = client.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"])


def audio_part(path: Path) -> list[dict[str, Any]]:
    data = base64.b64encode(path.read_bytes()).decode()
    return [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}]


def transcribe(client: httpx.Client, path: Path) -> tuple[str, float]:
    start = time.perf_counter()
    response = client.post(
        "/v1/audio/transcriptions",
        data={"model": "whisper-1", "response_format": "json"},
        files={"file": (path.name, path.read_bytes(), "audio/wav")},
    )
    response.raise_for_status()
    return str(response.json()["text"]), time.perf_counter() - start


def questions_part(client: httpx.Client, questions: list[Question], verbose: bool) -> None:
    typed_ok = spoken_ok = agree = 0
    heard: list[tuple[str, str]] = []
    latencies = []
    for q in questions:
        clip = speak(q, CLIPS)
        typed = chat(client, q.text)
        spoken = chat(client, audio_part(clip))
        text, seconds = transcribe(client, clip)
        heard.append((q.text, text))
        latencies.append(seconds)
        t_ok, s_ok = is_correct(typed, q.answers), is_correct(spoken, q.answers)
        typed_ok += t_ok
        spoken_ok += s_ok
        agree += words(typed) == words(spoken) or (t_ok and s_ok)
        if verbose:
            print(f"{q.row:2d} {q.split} {q.condition:22s} heard: {text.strip()!r}")
            print(f"   typed  {'+' if t_ok else '-'} {typed.strip()!r}")
            print(f"   spoken {'+' if s_ok else '-'} {spoken.strip()!r}")
    n = len(questions)
    print(f"questions: {n}")
    print(f"typed accuracy: {typed_ok}/{n} = {typed_ok / n:.2f}")
    ratio = spoken_ok / typed_ok if typed_ok else float("nan")
    print(f"spoken accuracy: {spoken_ok}/{n} = {spoken_ok / n:.2f} ({ratio:.2f}x typed)")
    print(f"agreement: {agree}/{n} = {agree / n:.0%}")
    print(
        f"transcription WER: {corpus_wer(heard):.1%} "
        f"(median {statistics.median(latencies) * 1000:.0f} ms per clip over HTTP)"
    )
    for voice in sorted({q.voice for q in questions}):
        pairs = [h for q, h in zip(questions, heard, strict=True) if q.voice == voice]
        print(f"  {voice:10s} WER {corpus_wer(pairs):.1%} ({len(pairs)} questions)")


def judge_model(name: str) -> CutWindowWhisper:
    """faster-whisper on `name` (base or tiny.en), on the whole 30 s window unless `padding_frames` is
    set (the judge of `/v1/audio/speech`: run unlike the server's recogniser)."""
    return CutWindowWhisper(
        str(_folder(name)), padding_s=None, device="cpu", compute_type="int8", cpu_threads=default_threads()
    )


def _folder(name: str) -> Path:
    """The model folder of Whisper `name` (base or tiny.en), as the server resolves it."""
    source = f"embedded:{'whisper-base' if name == 'base' else 'whisper-tiny.en'}"
    return resolve_speech_source(source, CACHE)


def speech_part(
    client: httpx.Client, judge: CutWindowWhisper, judge_name: str, voices: list[str], verbose: bool
) -> None:
    print(f"/v1/audio/speech round trip, heard by faster-whisper {judge_name} run directly:")
    for voice in voices:
        pairs = []
        for sentence in SENTENCES:
            response = client.post(
                "/v1/audio/speech",
                json={"model": "tts-1", "voice": voice, "input": sentence, "response_format": "wav"},
            )
            response.raise_for_status()
            audio = decode(response.content, "wav", AudioLimits()).resampled(16_000)
            segments, _ = judge.transcribe(audio.samples.astype(np.float32), language="en", beam_size=5)
            text = "".join(s.text for s in segments).strip()
            pairs.append((sentence, text))
            if verbose and spoken_words(sentence) != spoken_words(text):
                print(f"    {voice}: {text!r}")
        print(f"  {voice:8s} WER {corpus_wer(pairs):.1%}")


def _words_only(beam_size: int, padding_s: float, **more: Any) -> dict[str, Any]:
    """A variant as a realtime turn is recognised: VAD, no word timestamps, the encoder on the clip plus
    `padding_s`."""
    return {
        "beam_size": beam_size,
        "vad_filter": True,
        "word_timestamps": False,
        "padding_s": padding_s,
        **more,
    }


#: Decoding variants tried on the question clips (`--decoding`), faster-whisper run in this process; the
#: first is what omnivox does (omnivox/backends/whisper.py). `padding_s`: the encoder runs on the clip plus
#: that much of its padding (`[[speech_models]] encoder_padding_s`); absent: the whole 30 s window.
#: `language`: what faster-whisper is told (None: a multilingual model identifies it first); absent: "en".
VARIANTS: dict[str, dict[str, Any]] = {
    "omnivox (beam 5, VAD, word timestamps, 10 s padding)": {
        "beam_size": 5,
        "vad_filter": True,
        "word_timestamps": True,
        "padding_s": ENCODER_PADDING_S,
    },
    "whole 30 s window": {"beam_size": 5, "vad_filter": True, "word_timestamps": True},
    "8 s padding": {"beam_size": 5, "vad_filter": True, "word_timestamps": True, "padding_s": 8.0},
    "5 s padding": {"beam_size": 5, "vad_filter": True, "word_timestamps": True, "padding_s": 5.0},
    "3 s padding": {"beam_size": 5, "vad_filter": True, "word_timestamps": True, "padding_s": 3.0},
    "greedy, 10 s padding": {"beam_size": 1, "vad_filter": True, "word_timestamps": True, "padding_s": 10.0},
    # what a realtime turn needs is the words, not their times (omnivox/realtime/hearing.py)
    "no word timestamps, 10 s padding": _words_only(5, 10.0),
    "no word timestamps, 5 s padding": _words_only(5, 5.0),
    "no word timestamps, 3 s padding": _words_only(5, 3.0),
    # what a turn without `language` costs
    "no word timestamps, 10 s padding, language identified": _words_only(5, 10.0, language=None),
    "beam 3, no word timestamps, 10 s padding": _words_only(3, 10.0),
    "beam 2, no word timestamps, 10 s padding": _words_only(2, 10.0),
    "beam 3, no word timestamps, 5 s padding": _words_only(3, 5.0),
    "greedy, no word timestamps, 5 s padding": _words_only(1, 5.0),
    "greedy, no word timestamps, 10 s padding": _words_only(1, 10.0),
    "no VAD": {"beam_size": 5, "vad_filter": False, "word_timestamps": True},
    "greedy (beam 1)": {"beam_size": 1, "vad_filter": True, "word_timestamps": True},
    "no word timestamps": {"beam_size": 5, "vad_filter": True, "word_timestamps": False},
    "prompt: system message": {
        "beam_size": 5,
        "vad_filter": True,
        "word_timestamps": True,
        "initial_prompt": SYSTEM,
    },
    "prompt: a question": {
        "beam_size": 5,
        "vad_filter": True,
        "word_timestamps": True,
        "initial_prompt": "What is the capital of Peru?",
    },
    # a short clip is one 30 s window, where timestamp tokens only split it into segments; yet without them
    # tiny.en's WER went from 14.3% to 44.2% and its time per clip doubled (docs/benchmarks.md, #14)
    "without timestamps": {
        "beam_size": 5,
        "vad_filter": True,
        "word_timestamps": True,
        "without_timestamps": True,
    },
    "greedy, without timestamps": {
        "beam_size": 1,
        "vad_filter": True,
        "word_timestamps": True,
        "without_timestamps": True,
    },
}


def decoding_part(questions: list[Question], models: list[str], variants: list[str] | None = None) -> None:
    """WER and latency per clip of decoding variants (all, or those named), on the same clips, in this
    process."""
    clips = [decode(speak(q, CLIPS).read_bytes(), "wav", AudioLimits()).resampled(16_000) for q in questions]
    for name in models:
        model = judge_model(name)
        for variant, options in VARIANTS.items():
            if variants is not None and variant not in variants:
                continue
            pairs, seconds = [], []
            options = dict(options)
            padding = options.pop("padding_s", None)
            language = options.pop("language", "en")
            model.padding_frames = None if padding is None else round(padding * MEL_FRAMES_PER_S)
            for q, clip in zip(questions, clips, strict=True):
                start = time.perf_counter()
                segments, _ = model.transcribe(
                    clip.samples, language=language, temperature=FALLBACK_TEMPERATURES, **options
                )
                text = "".join(s.text for s in segments).strip()
                seconds.append(time.perf_counter() - start)
                pairs.append((q.text, text))
            print(
                f"  {name:8s} {variant:52s} WER {corpus_wer(pairs):5.1%}  "
                f"median {statistics.median(seconds) * 1000:.0f} ms per clip"
            )


def quick_part(questions: list[Question], model: str) -> None:
    """What realtime turns get from the recogniser's quick pass (`[[speech_models]] quick_pass`): WER,
    turns decoded twice and time per clip, with and without it, omnivox's recogniser in this process
    (no word timestamps, English given, as a session that names its language)."""
    clips = [decode(speak(q, CLIPS).read_bytes(), "wav", AudioLimits()) for q in questions]
    recognizer = WhisperRecognizer(_folder(model), quick=QuickPassSettings())
    original = recognizer._model.transcribe
    decodings: list[int] = []

    def counting(*args: Any, **options: Any) -> Any:
        decodings[-1] += 1
        return original(*args, **options)

    recognizer._model.transcribe = counting  # type: ignore[method-assign]
    for quick in (False, True):
        pairs, seconds, twice = [], [], 0
        for q, clip in zip(questions, clips, strict=True):
            decodings.append(0)
            start = time.perf_counter()
            text = (
                recognizer.recognize(clip, language="en", word_timestamps=False, quick=quick).complete().text
            )
            seconds.append(time.perf_counter() - start)
            pairs.append((q.text, text))
            twice += decodings[-1] > 1
        label = "quick pass (greedy, clip + 5 s), else as configured" if quick else "as configured"
        print(
            f"  {model:8s} {label:52s} WER {corpus_wer(pairs):5.1%}  decoded twice {twice}/{len(questions)}  "
            f"median {statistics.median(seconds) * 1000:.0f} ms, p90 "
            f"{statistics.quantiles(seconds, n=10)[-1] * 1000:.0f} ms per clip"
        )
    recognizer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="held", choices=["held", "tune", "all"])
    parser.add_argument("--speech", default="base", choices=sorted(SPEECH))
    parser.add_argument("--cues", default="auto", choices=["auto", "always", "never"])
    parser.add_argument("--judge", default="base", choices=["base", "tiny.en"])
    parser.add_argument("--no-speech", action="store_true", help="skip the /v1/audio/speech round trips")
    parser.add_argument("--voices", help="comma-separated OpenAI voice names (default: all 13)")
    parser.add_argument("--no-questions", action="store_true", help="only the /v1/audio/speech round trips")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--threads", type=int, help="CPU threads of the server's chat model and recogniser (default: all)"
    )
    parser.add_argument("--url", help="use this running server (its own settings) instead of starting one")
    parser.add_argument(
        "--decoding", action="store_true", help="only compare decoding options of tiny.en and base"
    )
    parser.add_argument("--models", default="tiny.en,base", help="--decoding: the models compared")
    parser.add_argument("--variants", help="--decoding: the variants tried, |-separated (default: all)")
    parser.add_argument(
        "--quick", action="store_true", help="only the realtime quick pass against the configured decoding"
    )
    args = parser.parse_args()
    bench_server.STARTUP_SECONDS = 900.0  # loading and the self-check take minutes on a busy machine
    questions = load_questions(None if args.split == "all" else args.split)
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    if args.quick:
        print(f"split {args.split}; realtime turns, omnivox's recogniser in this process")
        for model in args.models.split(","):
            quick_part(questions, model)
        return
    if args.decoding:
        print(f"split {args.split}; decoding variants, faster-whisper in this process, fallback temperatures")
        variants = args.variants.split("|") if args.variants else None
        decoding_part(questions, args.models.split(","), variants)
        print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        return
    where = args.url or f"started here, recogniser {args.speech}, cues {args.cues}, threads {args.threads}"
    print(f"split {args.split}; server {where}")
    server = (
        contextlib.nullcontext(args.url)
        if args.url
        else server_process(
            models=[{"context_window": 2048, "threads": args.threads}],
            speech_models=[{**m, "threads": args.threads} for m in SPEECH[args.speech]],
            audio={"cues": args.cues},
        )
    )
    with server as url, httpx.Client(base_url=url, timeout=600) as client:
        if not args.no_questions:
            questions_part(client, questions, args.verbose)
        if not args.no_speech:
            voices = args.voices.split(",") if args.voices else list(OPENAI_VOICES)
            speech_part(client, judge_model(args.judge), args.judge, voices, args.verbose)
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
