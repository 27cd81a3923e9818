"""Spoken chat answers through the server, and the same pipeline called directly in one process.

    .venv/bin/python -m benchmarks.spoken_chat [--direct] [--runs 5] [--case question|story] [--voice alloy]
                                               [--first-piece-words N] [--threads N] [--question TEXT]
                                               [--speech whisper-base|whisper-tiny.en]

`question` (the default): a spoken question (`--question`, by default "What is the capital of France?",
1.9 s), spoken by flite slt, sent as a WAV `input_audio` part after the system message "Answer in one
short sentence.", answered aloud: request -> first audio byte of a streamed pcm16 answer, request ->
last byte, request -> whole non-streamed wav answer, and the median of each stage up to the first audio as the
server's `/metrics` histograms time it (`omnivox_spoken_stage_seconds`, read before and after each
request). `story`: a typed request for a story of up to `--tokens` tokens.

`--direct` also runs the question through faster-whisper + llama.cpp + Piper called directly in this
process with the server's models and options (Whisper base int8 with the server's recognition
options, SmolLM2 through llama-cpp-python's `Llama` with the same context window and threads, greedy,
Piper joe, the same piece boundaries, pcm16 at 24 kHz), and prints the server's overhead over it. The
server and the direct pipeline take turns, run by run, so that load from elsewhere falls on both alike.
`--first-piece-words 0` gives the sentence-sized pieces of before #14 (both sides); `--threads 1` keeps
llama.cpp and CTranslate2 from spinning against other processes on a loaded machine.

The server is `omnivox serve` in its own process; the client is a lean httpx stream. Temperature 0.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soxr
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.server import server_process
from omnivox.telemetry import SPOKEN_STAGES as STAGES

QUESTION = "What is the capital of France?"
SYSTEM = "Answer in one short sentence."  # as benchmarks/hearing.py asks
STORY = [{"role": "user", "content": "Tell me a short story about a lighthouse keeper."}]
CONTEXT_WINDOW = 2048
OUTPUT_RATE = 24_000
WHISPER_RATE = 16_000
STAGE_METRIC = "omnivox_spoken_stage_seconds"


def question_wav(question: str = QUESTION) -> bytes:
    """The question, spoken by flite slt (not the answering voice), as a WAV file at flite's rate."""
    from omnivox.audio.encode import encode
    from omnivox.audio.pcm import Audio
    from omnivox.backends.flite import FliteSynthesizer

    voice = FliteSynthesizer("slt")
    samples = np.concatenate([a.samples for a in voice.synthesize(question)])
    audio = Audio(samples.astype(np.float32), voice.info.sample_rate)
    return encode(audio, "wav")


def _question_messages(wav: bytes) -> list[dict[str, Any]]:
    part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav).decode(), "format": "wav"}}
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": [part]}]


def _body(messages: list[dict[str, Any]], voice: str, fmt: str, tokens: int, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gpt-4o-audio-preview",
        "messages": messages,
        "temperature": 0,
        "max_tokens": tokens,
        "modalities": ["text", "audio"],
        "audio": {"voice": voice, "format": fmt},
    }
    if stream:
        body["stream"] = True
    return body


def streamed(client: httpx.Client, body: dict[str, Any]) -> tuple[float, float, float]:
    """(time to first audio data, total time, seconds of audio)."""
    start = time.perf_counter()
    first = None
    pcm_bytes = 0
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if '"data":"' not in line:
                continue
            if first is None:
                first = time.perf_counter() - start
            audio = json.loads(line.removeprefix("data: "))["choices"][0]["delta"]["audio"]
            pcm_bytes += len(base64.b64decode(audio["data"]))
    assert first is not None
    return first, time.perf_counter() - start, pcm_bytes / 2 / OUTPUT_RATE


def whole(client: httpx.Client, body: dict[str, Any]) -> float:
    start = time.perf_counter()
    response = client.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    return time.perf_counter() - start


def whole_text(client: httpx.Client, messages: list[dict[str, Any]], tokens: int) -> str:
    body = {"model": "gpt-4o-audio-preview", "messages": messages, "temperature": 0, "max_tokens": tokens}
    return str(client.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"])


def stage_sums(client: httpx.Client) -> dict[str, float]:
    """The server's stage histograms: seconds summed so far, by stage."""
    text = client.get("/metrics").text
    return {
        sample.labels["stage"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == f"{STAGE_METRIC}_sum"
    }


def timed_stages(client: httpx.Client, run: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """`run()`'s result and the seconds of each stage of the one spoken answer it asked for."""
    before = stage_sums(client)
    result = run()
    after = stage_sums(client)
    return result, {stage: after[stage] - before.get(stage, 0.0) for stage in after}


class Direct:
    """faster-whisper + llama.cpp + Piper in this process, with the server's models and options."""

    def __init__(self, threads: int, first_words: int, speech: str) -> None:
        from llama_cpp import Llama
        from piper import PiperVoice

        from omnivox.backends.llama_cpp.library import load_backends
        from omnivox.backends.whisper import CutWindowWhisper
        from omnivox.config import EMBEDDED_CHAT_MODEL
        from omnivox.serving.registry import EMBEDDED_VOICES, resolve_source, resolve_speech_source

        self.first_words = first_words or None  # the server's first_piece_words
        folder = resolve_speech_source(f"embedded:{speech}", Path("~/.cache/omnivox"))
        self.whisper = CutWindowWhisper(str(folder), device="cpu", compute_type="int8", cpu_threads=threads)
        gguf = resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}")
        load_backends()  # the portable build's CPU kernels (docs/install.md)
        self.llama = Llama(
            str(gguf),
            n_ctx=CONTEXT_WINDOW,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=512,
            flash_attn=True,
            verbose=False,
        )
        joe = EMBEDDED_VOICES["en_US-joe-medium"]()
        self.piper = PiperVoice.load(joe, config_path=joe.with_name(joe.name + ".json"))

    def hear(self, wav: bytes) -> str:
        from omnivox.backends.whisper import transcribe_options

        with wave.open(io.BytesIO(wav)) as file:
            rate = file.getframerate()
            pcm = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")
        samples = soxr.resample(pcm.astype(np.float32) / 32768.0, rate, WHISPER_RATE, quality="HQ")
        segments, _ = self.whisper.transcribe(
            np.ascontiguousarray(samples, dtype=np.float32), language="en", **transcribe_options()
        )
        return "".join(s.text for s in segments).strip()

    def write(self, text: str, tokens: int) -> Iterator[str]:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
        chunks = self.llama.create_chat_completion(messages, temperature=0, max_tokens=tokens, stream=True)
        for chunk in chunks:
            if content := chunk["choices"][0]["delta"].get("content"):  # type: ignore[index]
                yield content

    def say(self, pieces: Iterator[str]) -> Iterator[bytes]:
        from omnivox.synthesis.normalize import for_speech

        for piece in pieces:
            for chunk in self.piper.synthesize(for_speech(piece)):
                samples = soxr.resample(chunk.audio_float_array, chunk.sample_rate, OUTPUT_RATE, quality="HQ")
                yield (np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes()

    def streamed(self, wav: bytes, tokens: int) -> tuple[float, float]:
        """(time to first pcm16 bytes, total time): pieces spoken as the text is written."""
        from omnivox.synthesis.segmenter import Segmenter, spoken

        start = time.perf_counter()
        segmenter = Segmenter(first_words=self.first_words)

        def pieces() -> Iterator[str]:
            for text in self.write(self.hear(wav), tokens):
                yield from spoken(segmenter.feed(text))
            yield from spoken(segmenter.flush())

        first = None
        for _ in self.say(pieces()):
            first = first if first is not None else time.perf_counter() - start
        assert first is not None
        return first, time.perf_counter() - start

    def whole(self, wav: bytes, tokens: int) -> float:
        """Time to the whole answer as a WAV file: heard, written, spoken, encoded."""
        from omnivox.synthesis.service import pieces_of

        start = time.perf_counter()
        text = "".join(self.write(self.hear(wav), tokens))
        pcm = b"".join(self.say(iter(pieces_of(text))))
        with wave.open(io.BytesIO(), "wb") as file:
            file.setnchannels(1)
            file.setsampwidth(2)
            file.setframerate(OUTPUT_RATE)
            file.writeframes(pcm)
        return time.perf_counter() - start


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def question_case(
    client: httpx.Client, question: str, voice: str, tokens: int, runs: int, direct: Direct | None
) -> None:
    wav = question_wav(question)
    messages = _question_messages(wav)
    stream_body = _body(messages, voice, "pcm16", tokens, stream=True)
    whole_body = _body(messages, voice, "wav", tokens, stream=False)
    streamed(client, stream_body)  # warm-up: the prompt cache and every model's first run
    if direct is not None:
        direct.streamed(wav, tokens)
    firsts, totals, wholes, stages = [], [], [], []
    d_firsts, d_totals, d_wholes = [], [], []
    for _ in range(runs):
        (first, total, _seconds), spent = timed_stages(client, lambda: streamed(client, stream_body))
        firsts.append(first)
        totals.append(total)
        stages.append(spent)
        wholes.append(whole(client, whole_body))
        if direct is not None:
            d_first, d_total = direct.streamed(wav, tokens)
            d_firsts.append(d_first)
            d_totals.append(d_total)
            d_wholes.append(direct.whole(wav, tokens))
    with wave.open(io.BytesIO(wav)) as file:
        duration = file.getnframes() / file.getframerate()
    print(f'spoken question "{question}" ({duration:.1f} s), voice {voice}, median of {runs} runs')
    print(f"the answer: {whole_text(client, messages, tokens)!r}")
    print(f"server: first audio {_ms(firsts)}, streamed complete {_ms(totals)}, whole wav {_ms(wholes)}")
    seen = {stage for spent in stages for stage, seconds in spent.items() if seconds > 0}
    order = [s for s in STAGES if s in seen] + sorted(seen - set(STAGES))
    medians = ", ".join(f"{s} {_ms([spent.get(s, 0.0) for spent in stages])}" for s in order)
    print(f"server stages to first audio (medians): {medians}")
    if direct is not None:
        print(
            f"direct: first audio {_ms(d_firsts)}, streamed complete {_ms(d_totals)}, whole {_ms(d_wholes)}"
        )
        ratio = statistics.median(firsts) / statistics.median(d_firsts)
        whole_ratio = statistics.median(wholes) / statistics.median(d_wholes)
        print(f"server / direct: first audio {ratio:.2f}, whole answer {whole_ratio:.2f}")


def story_case(client: httpx.Client, voice: str, tokens: int, runs: int) -> None:
    whole(client, _body(STORY, voice, "wav", 4, stream=False))  # warm-up
    firsts, totals, wholes, seconds = [], [], [], 0.0
    for _ in range(runs):
        first, total, seconds = streamed(client, _body(STORY, voice, "pcm16", tokens, stream=True))
        firsts.append(first)
        totals.append(total)
        wholes.append(whole(client, _body(STORY, voice, "wav", tokens, stream=False)))
    print(f"voice {voice}, up to {tokens} tokens, greedy, median of {runs} runs")
    print(f"answer: {seconds:.1f} s of speech")
    complete = statistics.median(totals)
    print(f"streamed pcm16: first audio after {_ms(firsts)}, complete after {complete:.2f} s")
    print(f"non-streamed wav: {statistics.median(wholes):.2f} s")


def main() -> None:
    from omnivox.backends.cpu import default_threads
    from omnivox.config import EMBEDDED_SPEECH_MODEL, SynthesisSettings

    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=("question", "story"), default="question")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=None, help="default: 32 (question), 80 (story)")
    parser.add_argument("--voice", default="alloy")
    parser.add_argument("--question", default=QUESTION, help="--case question: what flite slt asks")
    parser.add_argument(
        "--speech",
        default=EMBEDDED_SPEECH_MODEL,
        choices=["whisper-base", "whisper-tiny.en"],
        help="recogniser",
    )
    parser.add_argument("--direct", action="store_true", help="also the direct in-process pipeline")
    parser.add_argument(
        "--first-piece-words", type=int, default=None, help="the server's setting (0: sentence-sized pieces)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads of the chat model and recogniser (default: all cores)",
    )
    args = parser.parse_args()
    tokens = args.tokens or (32 if args.case == "question" else 80)
    print(f"load: {_uptime()}")
    threads = args.threads or default_threads()
    first_words = args.first_piece_words
    if first_words is None:
        first_words = SynthesisSettings().first_piece_words
    direct = Direct(threads, first_words, args.speech) if args.direct and args.case == "question" else None
    speech = {"id": args.speech, "source": f"embedded:{args.speech}", "threads": threads}
    with (
        server_process(
            models=[{"context_window": CONTEXT_WINDOW, "threads": threads}],
            speech_models=[speech],
            synthesis={"first_piece_words": first_words},
        ) as url,
        httpx.Client(base_url=url, timeout=600) as client,
    ):
        if args.case == "question":
            question_case(client, args.question, args.voice, tokens, args.runs, direct)
        else:
            story_case(client, args.voice, tokens, args.runs)
    print(f"load: {_uptime()}")


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
