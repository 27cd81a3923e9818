"""Heard as well as read: a question asked aloud against the same question typed, through the server.

    .venv/bin/python -m benchmarks.hearing [--split held|tune|all] [--speech tiny.en|base]
                                           [--cues auto|always|never] [--judge base|tiny.en] [--no-speech]

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
- transcription WER of the questions through `/v1/audio/transcriptions` (numbers written out on both
  sides), and its median latency per clip;
- per OpenAI voice name, the WER of `/v1/audio/speech` round trips of eight sentences with numbers and
  symbols, heard by an independent recogniser: faster-whisper run in this process on Whisper base
  (`--judge base`, a different and larger model than the server's tiny.en) or tiny.en (`--judge tiny.en`,
  the same weights run directly with faster-whisper's defaults, no voice-activity detection).
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
from faster_whisper import WhisperModel

from benchmarks import server as bench_server
from benchmarks.server import server_process
from omnivox.audio.decode import AudioLimits, decode
from omnivox.backends.cpu import default_threads
from omnivox.backends.whisper import FALLBACK_TEMPERATURES
from omnivox.config import EMBEDDED_SPEECH_MODEL, OPENAI_VOICES
from omnivox.serving.registry import resolve_speech_source
from tests.support.questions import Question, is_correct, load_questions, speak, words
from tests.support.wer import word_errors

CACHE = Path("~/.cache/omnivox").expanduser()  # omnivox's default cache_dir (Whisper base is joined there)
CLIPS = CACHE / "bench-hearing"
SYSTEM = "Answer in one short sentence."
MAX_TOKENS = 32
SPEECH = {
    "tiny.en": [{"id": EMBEDDED_SPEECH_MODEL, "source": f"embedded:{EMBEDDED_SPEECH_MODEL}"}],
    "base": [{"id": "whisper-base", "source": "embedded:whisper-base"}],
}
#: What `/v1/audio/speech` is asked to say: numbers, times, money, percentages, abbreviations.
SENTENCES = (
    "Paris is the capital of France.",
    "The train leaves at 7:45 from platform 9.",
    "It costs $12.50, which is 20% less than last year.",
    "Dr. Smith lives at 221 Baker Street.",
    "Water boils at 100 degrees Celsius.",
    "Please call me back before Friday afternoon.",
    "There are 365 days in a year and 24 hours in a day.",
    "The meeting moved from March 3rd to the 15th.",
)


def corpus_wer(pairs: list[tuple[str, str]]) -> float:
    errors = sum(word_errors(words(ref), words(hyp)) for ref, hyp in pairs)
    return errors / max(1, sum(len(words(ref)) for ref, _ in pairs))


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


def judge_model(name: str) -> WhisperModel:
    source = f"embedded:{'whisper-base' if name == 'base' else EMBEDDED_SPEECH_MODEL}"
    folder = resolve_speech_source(source, CACHE)
    return WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=default_threads())


def speech_part(
    client: httpx.Client, judge: WhisperModel, judge_name: str, voices: list[str], verbose: bool
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
            if verbose and words(sentence) != words(text):
                print(f"    {voice}: {text!r}")
        print(f"  {voice:8s} WER {corpus_wer(pairs):.1%}")


#: Decoding variants tried on the question clips (`--decoding`), faster-whisper run in this process; the
#: first is what omnivox does (omnivox/backends/whisper.py).
VARIANTS: dict[str, dict[str, Any]] = {
    "omnivox (beam 5, VAD, word timestamps)": {"beam_size": 5, "vad_filter": True, "word_timestamps": True},
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
}


def decoding_part(questions: list[Question], models: list[str]) -> None:
    """WER and latency per clip of decoding variants, on the same clips, in this process."""
    clips = [decode(speak(q, CLIPS).read_bytes(), "wav", AudioLimits()).resampled(16_000) for q in questions]
    for name in models:
        model = judge_model(name)
        for variant, options in VARIANTS.items():
            pairs, seconds = [], []
            for q, clip in zip(questions, clips, strict=True):
                start = time.perf_counter()
                segments, _ = model.transcribe(
                    clip.samples, language="en", temperature=FALLBACK_TEMPERATURES, **options
                )
                text = "".join(s.text for s in segments).strip()
                seconds.append(time.perf_counter() - start)
                pairs.append((q.text, text))
            print(
                f"  {name:8s} {variant:40s} WER {corpus_wer(pairs):5.1%}  "
                f"median {statistics.median(seconds) * 1000:.0f} ms per clip"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="held", choices=["held", "tune", "all"])
    parser.add_argument("--speech", default="tiny.en", choices=sorted(SPEECH))
    parser.add_argument("--cues", default="auto", choices=["auto", "always", "never"])
    parser.add_argument("--judge", default="base", choices=["base", "tiny.en"])
    parser.add_argument("--no-speech", action="store_true", help="skip the /v1/audio/speech round trips")
    parser.add_argument("--voices", help="comma-separated OpenAI voice names (default: all 13)")
    parser.add_argument("--no-questions", action="store_true", help="only the /v1/audio/speech round trips")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--url", help="use this running server (its own settings) instead of starting one")
    parser.add_argument(
        "--decoding", action="store_true", help="only compare decoding options of tiny.en and base"
    )
    args = parser.parse_args()
    bench_server.STARTUP_SECONDS = 900.0  # loading and the self-check take minutes on a busy machine
    questions = load_questions(None if args.split == "all" else args.split)
    print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    if args.decoding:
        print(f"split {args.split}; decoding variants, faster-whisper in this process, fallback temperatures")
        decoding_part(questions, ["tiny.en", "base"])
        print(f"load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
        return
    where = args.url or f"started here, recogniser {args.speech}, cues {args.cues}"
    print(f"split {args.split}; server {where}")
    server = (
        contextlib.nullcontext(args.url)
        if args.url
        else server_process(
            models=[{"context_window": 2048}], speech_models=SPEECH[args.speech], audio={"cues": args.cues}
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
