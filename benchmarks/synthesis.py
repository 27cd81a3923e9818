"""Speech synthesis through the omnivox server against Piper driven directly, same voice, same text.

    .venv/bin/python -m benchmarks.synthesis [--runs 5]

The text is a five-sentence paragraph; the voice is the embedded Piper en_US-joe-medium (`alloy`).

Prints, per path, medians of `--runs` interleaved runs (the order of the paths rotated each run):

- real-time factor: processing seconds / seconds of audio produced (Piper's durations vary a little from
  run to run, so each run is divided by its own audio). The server's figure is `POST /v1/audio/speech`
  with `response_format=wav`, timed from the request to the last byte received; the direct path is
  `piper.PiperVoice.synthesize(text)` in this process on the same .onnx, consumed to the end;
- time to the first audio byte of the chunked response (wav, and mp3, the API's default format), and for
  the direct path the time to its first chunk (Piper yields one per sentence): how soon playback can
  start, against the whole request;
- what the server adds to Piper's work, measured in this process on the direct path's audio: resampling
  to 24 kHz and encoding it with omnivox's StreamEncoder, per format (median of `--runs`).

The server runs as `omnivox serve` in its own process, configured by environment variables only; it is
idle while the direct path runs and the other way round. Both run onnxruntime on all cores.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from piper import PiperVoice

from benchmarks.server import server_process
from omnivox.audio.decode import AudioLimits, decode
from omnivox.audio.encode import StreamEncoder
from omnivox.audio.pcm import Audio
from omnivox.serving.registry import _joe

PARAGRAPH = (
    "The lighthouse keeper climbed the narrow stairs as the sun went down behind the hills. "
    "He wiped the salt from the great glass lens and lit the lamp for the ships at sea. "
    "Far to the west, dark clouds were gathering over the water, and the wind began to rise. "
    "By midnight the waves were crashing against the rocks, twenty feet below his window. "
    "When the morning came, the sea was calm again, and three fishing boats sailed safely home."
)
CHAT_MODELS = [{"context_window": 1024}]  # the chat model also loads; keep its KV cache small
SERVER_WAV = "server, wav"
SERVER_MP3 = "server, mp3"
DIRECT = "Piper direct"
ENCODED = ("wav", "mp3")


@dataclass(frozen=True, slots=True)
class Result:
    first: float  # seconds to the first audio byte (server) or the first chunk (direct)
    total: float  # seconds to the last byte / the end of synthesis
    audio: float  # seconds of audio produced

    @property
    def rtf(self) -> float:
        return self.total / self.audio


def served(client: httpx.Client, fmt: str) -> Result:
    """One chunked request, timed at the first and the last byte; the audio decoded afterwards."""
    body = {"model": "tts-1", "input": PARAGRAPH, "voice": "alloy", "response_format": fmt}
    chunks: list[bytes] = []
    first = None
    start = time.perf_counter()
    with client.stream("POST", "/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            if first is None:
                first = time.perf_counter() - start
            chunks.append(chunk)
    total = time.perf_counter() - start
    assert first is not None
    return Result(first, total, decode(b"".join(chunks), fmt, AudioLimits()).duration)


def direct(voice: PiperVoice) -> Result:
    first = None
    samples = 0
    rate = voice.config.sample_rate
    start = time.perf_counter()
    for chunk in voice.synthesize(PARAGRAPH):
        if first is None:
            first = time.perf_counter() - start
        samples += chunk.audio_float_array.size
    total = time.perf_counter() - start
    assert first is not None
    return Result(first, total, samples / rate)


def encoding_seconds(chunks: list[Audio], fmt: str) -> float:
    """Resampling `chunks` to 24 kHz and encoding them as `fmt`, as the server does after Piper."""
    start = time.perf_counter()
    encoder = StreamEncoder(fmt)
    for chunk in chunks:
        encoder.push(chunk)
    encoder.finish()
    return time.perf_counter() - start


def encoding(voice: PiperVoice, runs: int) -> dict[str, float]:
    rate = voice.config.sample_rate
    chunks = [Audio(chunk.audio_float_array, rate) for chunk in voice.synthesize(PARAGRAPH)]
    return {fmt: statistics.median(encoding_seconds(chunks, fmt) for _ in range(runs)) for fmt in ENCODED}


def measure(runs: int) -> tuple[dict[str, list[Result]], dict[str, float]]:
    results: dict[str, list[Result]] = {SERVER_WAV: [], SERVER_MP3: [], DIRECT: []}
    with (
        tempfile.TemporaryDirectory(prefix="omnivox-bench-") as folder,
        server_process(models=CHAT_MODELS, synthesis={"store": str(Path(folder) / "audio.sqlite3")}) as url,
        httpx.Client(base_url=url, timeout=300) as client,
    ):
        voice = PiperVoice.load(_joe())
        paths: dict[str, Callable[[], Result]] = {
            SERVER_WAV: lambda: served(client, "wav"),
            SERVER_MP3: lambda: served(client, "mp3"),
            DIRECT: lambda: direct(voice),
        }
        for run in paths.values():  # warm-up: onnxruntime's first run, espeak-ng's data
            run()
        names = list(paths)
        for i in range(runs):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                results[name].append(paths[name]())
        encoded = encoding(voice, runs)
    return results, encoded


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs per path")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    results, encoded = measure(args.runs)
    words = len(PARAGRAPH.split())
    print(f"Piper en_US-joe-medium, {words} words in 5 sentences, median of {args.runs} interleaved runs")
    print(
        f"{'path':14s} {'audio s':>8s} {'total s':>8s} {'RTF':>7s} {'first byte':>11s} {'first/total':>12s}"
    )
    for name, runs in results.items():
        audio = statistics.median(r.audio for r in runs)
        total = statistics.median(r.total for r in runs)
        rtf = statistics.median(r.rtf for r in runs)
        first = statistics.median(r.first for r in runs)
        share = statistics.median(r.first / r.total for r in runs)
        print(f"{name:14s} {audio:8.2f} {total:8.3f} {rtf:7.4f} {first * 1000:8.0f} ms {share:12.1%}")
        print(f"{'':14s} RTF runs: {' '.join(f'{r.rtf:.4f}' for r in runs)}")
    direct_rtf = statistics.median(r.rtf for r in results[DIRECT])
    for name in (SERVER_WAV, SERVER_MP3):
        ratio = statistics.median(r.rtf for r in results[name]) / direct_rtf
        verdict = "within" if ratio <= 1.10 else "NOT within"
        print(f"{name} / direct RTF: {ratio:.3f} ({verdict} the 10% target)")
    audio = statistics.median(r.audio for r in results[DIRECT])
    each = "   ".join(f"{fmt} {seconds * 1000:.0f} ms" for fmt, seconds in encoded.items())
    print(f"resampling + encoding {audio:.2f} s of Piper's audio in-process: {each}")


if __name__ == "__main__":
    main()
