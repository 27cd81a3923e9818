"""Speech recognition through the omnivox server: accuracy, speed against faster-whisper driven directly,
and latency.

    .venv/bin/python -m benchmarks.transcription [--runs 5] [--requests 20]

The audio is Debian's real LibriVox clips (package pocketsphinx-en-us's test data: five sentences of
"Sense and Sensibility" read aloud, 16 kHz mono WAV, 24.7 s in all) with their reference transcripts.

Prints:

- word error rate (corpus WER after normalisation, tests.support.wer) of the transcripts the server's
  `POST /v1/audio/transcriptions` returns, for the embedded Whisper tiny.en and, from a second server
  configured with it, the multilingual Whisper base (the default recogniser);
- real-time factor (processing seconds / audio seconds, all clips, median of `--runs` interleaved runs) of
  the endpoint (tiny.en, `response_format=json`, timed from request to parsed reply) against
  faster-whisper called in this process with the options omnivox uses, on the same weights; the direct
  path is timed twice: decoding the file with `faster_whisper.decode_audio`, and decoding its bytes as
  omnivox does (PyAV, then soxr to 16 kHz, a no-op for these files). Decoding is inside every timing;
  the server's figure also holds the HTTP upload, multipart parsing and the worker hand-off;
- latency from request to reply (median, p90) of `--requests` requests for the shortest clip.

The server runs as `omnivox serve` in its own process, so the client does not share its GIL; it is idle
while the direct path runs and the other way round. Both use CTranslate2 int8 on all cores.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from faster_whisper import WhisperModel, decode_audio

from benchmarks.server import server_process
from omnivox.audio.decode import AudioLimits, decode
from omnivox.audio.pcm import Samples
from omnivox.backends.cpu import default_threads
from omnivox.backends.whisper import FALLBACK_TEMPERATURES, SAMPLE_RATE, CutWindowWhisper
from omnivox.serving.registry import resolve_speech_source
from tests.support.wer import normalise, wer

CLIPS = Path("/usr/share/pocketsphinx/test/data/librivox")
CHAT_MODELS = [{"context_window": 1024}]  # the chat model also loads; keep its KV cache small
TINY_EN = [{"id": "whisper-tiny.en", "source": "embedded:whisper-tiny.en"}]
BASE = [{"id": "whisper-base", "source": "embedded:whisper-base"}]
CACHE = Path("~/.cache/omnivox")  # omnivox's default cache_dir, where Whisper base is joined once
SERVER = "omnivox server"
DIRECT_FW = "direct, decode_audio"
DIRECT_AV = "direct, PyAV + soxr"


@dataclass(frozen=True, slots=True)
class Clip:
    name: str
    path: Path
    data: bytes
    reference: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Result:
    text: str
    seconds: float


def load_clips() -> list[Clip]:
    """The clips named in the `transcription` file (`<s> words </s> (clip_id)` per line)."""
    clips = []
    for line in (CLIPS / "transcription").read_text().splitlines():
        match = re.fullmatch(r"\s*<s>(.*)</s>\s*\((\S+)\)\s*", line)
        if match is None:
            continue
        path = CLIPS / f"{match[2]}.wav"
        seconds = decode_audio(str(path), sampling_rate=SAMPLE_RATE).size / SAMPLE_RATE
        clips.append(Clip(match[2], path, path.read_bytes(), match[1].strip(), seconds))
    if not clips:
        raise SystemExit(f"no clips found under {CLIPS} (Debian package pocketsphinx-en-us)")
    return clips


def served(client: httpx.Client, clip: Clip) -> Result:
    start = time.perf_counter()
    response = client.post(
        "/v1/audio/transcriptions",
        files={"file": (clip.path.name, clip.data, "audio/wav")},
        data={"model": "whisper-1", "response_format": "json"},
    )
    response.raise_for_status()
    text = response.json()["text"]
    return Result(text, time.perf_counter() - start)


def _recognise(model: WhisperModel, samples: Samples) -> str:
    """faster-whisper with the options omnivox.backends.whisper passes for this request (an English-only
    model is told `en`; no prompt, the fallback temperatures, no word timestamps for `json`)."""
    segments, _info = model.transcribe(
        samples,
        task="transcribe",
        language=None if model.model.is_multilingual else "en",
        initial_prompt=None,
        temperature=FALLBACK_TEMPERATURES,
        beam_size=5,
        vad_filter=True,
        word_timestamps=False,
    )
    return "".join(s.text for s in segments).strip()  # segments is lazy: decoding happens here


def direct_decode_audio(model: WhisperModel, clip: Clip) -> Result:
    start = time.perf_counter()
    text = _recognise(model, decode_audio(str(clip.path), sampling_rate=SAMPLE_RATE))
    return Result(text, time.perf_counter() - start)


def direct_pyav(model: WhisperModel, clip: Clip) -> Result:
    start = time.perf_counter()
    audio = decode(clip.data, "wav", AudioLimits()).resampled(SAMPLE_RATE)
    text = _recognise(model, audio.samples)
    return Result(text, time.perf_counter() - start)


def real_time_factor(results: list[Result], clips: list[Clip]) -> float:
    return sum(r.seconds for r in results) / sum(c.seconds for c in clips)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def measure_tiny_en(
    clips: list[Clip], runs: int, requests: int
) -> tuple[dict[str, list[list[Result]]], list[float]]:
    """Per path, `runs` passes over all clips (interleaved clip by clip, the order of the paths rotated
    each run); then `requests` latencies of the shortest clip through the server."""
    folder = resolve_speech_source("embedded:whisper-tiny.en", CACHE)
    passes: dict[str, list[list[Result]]] = {SERVER: [], DIRECT_FW: [], DIRECT_AV: []}
    shortest = min(clips, key=lambda c: c.seconds)
    with (
        server_process(models=CHAT_MODELS, speech_models=TINY_EN) as url,
        httpx.Client(base_url=url, timeout=300) as client,
    ):
        # the server's encoder window (the clip plus 10 s of padding), so that only its overhead differs
        model = CutWindowWhisper(
            str(folder), device="cpu", compute_type="int8", cpu_threads=default_threads()
        )
        paths: dict[str, Callable[[Clip], Result]] = {
            SERVER: lambda clip: served(client, clip),
            DIRECT_FW: lambda clip: direct_decode_audio(model, clip),
            DIRECT_AV: lambda clip: direct_pyav(model, clip),
        }
        for run in paths.values():  # warm-up: first CTranslate2 call, the VAD model's load
            run(shortest)
        names = list(paths)
        for i in range(runs):
            order = names[i % len(names) :] + names[: i % len(names)]
            current: dict[str, list[Result]] = {name: [] for name in names}
            for clip in clips:
                for name in order:
                    current[name].append(paths[name](clip))
            for name in names:
                passes[name].append(current[name])
        latencies = [served(client, shortest).seconds for _ in range(requests)]
    return passes, latencies


def measure_base(clips: list[Clip]) -> list[Result]:
    with (
        server_process(models=CHAT_MODELS, speech_models=BASE) as url,
        httpx.Client(base_url=url, timeout=300) as client,
    ):
        served(client, min(clips, key=lambda c: c.seconds))  # warm-up
        return [served(client, clip) for clip in clips]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="passes over all clips per path")
    parser.add_argument("--requests", type=int, default=20, help="latency requests for the shortest clip")
    args = parser.parse_args()
    if args.runs < 1 or args.requests < 2:
        parser.error("--runs must be at least 1 and --requests at least 2")
    clips = load_clips()
    references = [c.reference for c in clips]
    audio_seconds = sum(c.seconds for c in clips)
    passes, latencies = measure_tiny_en(clips, args.runs, args.requests)
    base = measure_base(clips)

    print(
        f"{len(clips)} LibriVox clips, {audio_seconds:.2f} s of audio, {default_threads()} threads, "
        f"median of {args.runs} interleaved runs"
    )
    print("word error rate (server transcripts):")
    print(f"  whisper-tiny.en  {wer(references, [r.text for r in passes[SERVER][0]]):6.1%}")
    print(f"  whisper-base     {wer(references, [r.text for r in base]):6.1%}")
    differing = sum(
        normalise(s.text) != normalise(d.text)
        for run_s, run_d in zip(passes[SERVER], passes[DIRECT_FW], strict=True)
        for s, d in zip(run_s, run_d, strict=True)
    )
    print(f"  server transcripts differing from direct: {differing} of {len(clips) * args.runs}")
    print("real-time factor, whisper-tiny.en (processing s / audio s):")
    rtf = {name: statistics.median(real_time_factor(p, clips) for p in runs) for name, runs in passes.items()}
    for name, value in rtf.items():
        each = " ".join(f"{real_time_factor(p, clips):.3f}" for p in passes[name])
        print(
            f"  {name:22s} {value:.4f}   ({value * audio_seconds:.2f} s of {audio_seconds:.2f} s)",
            f"  runs: {each}",
        )
    for name in (DIRECT_FW, DIRECT_AV):
        ratio = rtf[SERVER] / rtf[name]
        verdict = "within" if ratio <= 1.10 else "NOT within"
        print(f"  server / {name}: {ratio:.3f} ({verdict} the 10% target)")
    shortest = min(clips, key=lambda c: c.seconds)
    print(f"latency, whisper-tiny.en, {shortest.seconds:.2f} s clip, {args.requests} requests:")
    print(f"  median {statistics.median(latencies) * 1000:.0f} ms   p90 {p90(latencies) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
