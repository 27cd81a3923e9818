"""The Realtime API's turn latency: from the end of the user's speech to the first audio delta of the
answer, over WebSocket, with server VAD, on the default models (SmolLM2, Whisper base, the alloy voice).

    .venv/bin/python -m benchmarks.realtime [--runs 10] [--silence-ms 200 | --semantic medium] [--compare]
        [--url URL | --speech-model JSON] [--first-piece-words 3]

Each run opens a session, streams a spoken question (flite rms, 0.5 s of silence before, 1.5 s after;
8.5 s with `--semantic`, which may wait up to 8 s of silence)
in 20 ms chunks at microphone pace, and times, from the moment the last chunk holding speech was sent:
`speech_stopped` (the VAD's silence window), `committed`, the transcript (input transcription is on),
`response.created`, the first transcript delta (the first piece written: after the prompt's evaluation
and the piece's tokens), the first audio delta (after the voice spoke that piece) and `response.done`.
The server is `omnivox serve` in its own process (it may take up to `--startup-seconds` to load and
self-check on a busy machine), or the one at `--url`, started by hand (`omnivox serve`), which is then
reused as it is. `--compare` runs the turns again on a second server with `[realtime] speculative =
false` (the answer starts when the turn ends; recognition still at pauses). The load average is printed
before and after the turns.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import threading
import time
from typing import Any

import numpy as np
import websockets.sync.client

from benchmarks.server import server_process
from omnivox.config import VoiceSettings
from omnivox.serving.registry import load_voice

QUESTIONS = [
    "What is the capital of France?",
    "Can you name a fruit that is yellow?",
    "How many legs does a spider have?",
    "What color is the sky on a clear day?",
]
RATE = 24_000
CHUNK = 960  # 20 ms of pcm16
LEAD, TAIL, SEMANTIC_TAIL = 0.5, 1.5, 8.5


def spoken(text: str, tail: float = TAIL) -> tuple[bytes, float]:
    """pcm16 24 kHz of `text` with silence around it, and where the speech ends (s from the start)."""
    voice = load_voice(VoiceSettings(id="rms", backend="flite", source="rms"))
    speech = np.concatenate([a.resampled(RATE).samples for a in voice.synthesize(text)])
    audio = np.concatenate(
        [np.zeros(int(LEAD * RATE), np.float32), speech, np.zeros(int(tail * RATE), np.float32)]
    )
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes(), LEAD + speech.size / RATE


def stream(ws: Any, pcm: bytes, speech_end: float, marks: dict[str, float]) -> None:
    start = time.perf_counter()
    for n, at in enumerate(range(0, len(pcm), CHUNK)):
        piece = base64.b64encode(pcm[at : at + CHUNK]).decode()
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": piece}))
        sent = (at + CHUNK) / 2 / RATE
        if sent >= speech_end and "speech_end" not in marks:
            marks["speech_end"] = time.perf_counter()
        time.sleep(max(0.0, start + (n + 1) * CHUNK / 2 / RATE - time.perf_counter()))


def turn(url: str, pcm: bytes, speech_end: float, turn_detection: dict[str, Any]) -> dict[str, float]:
    """Seconds from the end of speech to each milestone of one turn."""
    marks: dict[str, float] = {}
    firsts = {
        "input_audio_buffer.speech_stopped": "stopped",
        "input_audio_buffer.committed": "committed",
        "conversation.item.input_audio_transcription.completed": "heard",
        "response.created": "response",
        "response.output_audio_transcript.delta": "first words",
        "response.output_audio.delta": "first audio",
    }
    with websockets.sync.client.connect(url, max_size=None) as ws:
        ws.recv()  # session.created
        transcription = {"model": "whisper-1"}
        session = {
            "type": "realtime",
            "instructions": "Answer in one short sentence.",
            "max_output_tokens": 60,
            "audio": {"input": {"turn_detection": turn_detection, "transcription": transcription}},
        }
        ws.send(json.dumps({"type": "session.update", "session": session}))
        sender = threading.Thread(target=stream, args=(ws, pcm, speech_end, marks))
        sender.start()
        while True:
            event = json.loads(ws.recv(timeout=600))  # a loaded machine can take minutes
            name = firsts.get(event["type"])
            if name is not None and name not in marks:
                marks[name] = time.perf_counter()
            if event["type"] == "error":
                raise RuntimeError(event["error"])
            if event["type"] == "response.done":
                marks["done"] = time.perf_counter()
                break
        sender.join()
    end = marks["speech_end"]
    return {k: v - end for k, v in marks.items() if k != "speech_end"}


MILESTONES = ("stopped", "committed", "heard", "response", "first words", "first audio", "done")
#: What the time to the first audio is made of, from the client's side: the recognition left after the
#: turn ended, the chat model's prompt and first piece (after the transcript), the voice's first piece.
STAGES = (
    ("speech_stopped -> transcript (recognition left)", "stopped", "heard"),
    ("transcript -> first words (prompt, first piece)", "heard", "first words"),
    ("first words -> first audio (the voice)", "first words", "first audio"),
    ("speech_stopped -> first audio", "stopped", "first audio"),
)


def turns(
    url: str, clips: list[tuple[bytes, float]], runs: int, turn_detection: dict[str, Any]
) -> list[dict[str, float]]:
    ws_url = url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"
    turn(ws_url, *clips[0], turn_detection)  # warm-up: first loads, caches
    return [turn(ws_url, *clips[n % len(clips)], turn_detection) for n in range(runs)]


def detection(args: argparse.Namespace) -> dict[str, Any]:
    if args.semantic:
        return {"type": "semantic_vad", "eagerness": args.semantic}
    return {"type": "server_vad", "silence_duration_ms": args.silence_ms}


def report(title: str, results: list[dict[str, float]], loads: tuple[float, float]) -> None:
    print(f"{title}: {len(results)} turns, load average {loads[0]:.2f} before, {loads[1]:.2f} after")
    print("  seconds from the end of the user's speech to:   median    p90")
    for name in MILESTONES:
        values = sorted(r[name] for r in results if name in r)
        if values:
            p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
            print(f"    {name:<44} {statistics.median(values):6.2f} {p90:6.2f}")
    print("  stages (median of each turn's difference):")
    for label, start, end in STAGES:
        gaps = [r[end] - r[start] for r in results if start in r and end in r]
        if gaps:
            print(f"    {label:<44} {statistics.median(gaps):6.2f}")


def measured(
    args: argparse.Namespace, clips: list[tuple[bytes, float]], speculative: bool
) -> tuple[list[dict[str, float]], tuple[float, float]]:
    if args.url:
        before = os.getloadavg()[0]
        return turns(args.url, clips, args.runs, detection(args)), (before, os.getloadavg()[0])
    realtime = {"speculative": speculative}
    synthesis = {"first_piece_words": args.first_piece_words}
    models = [{"context_window": 2048}]
    settings: dict[str, Any] = {"models": models, "realtime": realtime, "synthesis": synthesis}
    if args.speech_model:  # the server starts without the caller's OMNIVOX_* variables: said here instead
        settings["speech_models"] = [json.loads(args.speech_model)]
    with server_process(args.startup_seconds, **settings) as url:
        before = os.getloadavg()[0]
        return turns(url, clips, args.runs, detection(args)), (before, os.getloadavg()[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--silence-ms", type=int, default=200, help="server_vad's silence_duration_ms")
    parser.add_argument(
        "--semantic", choices=("low", "medium", "high"), help="semantic_vad with this eagerness instead"
    )
    parser.add_argument("--url", help="a running omnivox serve to measure (default: start one)")
    parser.add_argument(
        "--speech-model",
        help="the started server's recogniser, one [[speech_models]] entry as JSON, e.g. "
        '\'{"id": "whisper-base", "source": "embedded:whisper-base", "beam_size": 1}\' (default: the '
        "server's default; OMNIVOX_* variables do not reach the started server)",
    )
    parser.add_argument("--compare", action="store_true", help="also without speculative answers")
    parser.add_argument(
        "--first-piece-words", type=int, default=3, help="[synthesis] first_piece_words (0: sentences)"
    )
    parser.add_argument("--startup-seconds", type=float, default=1200.0)
    args = parser.parse_args()
    # semantic_vad may wait up to 4 s of input silence (medium) when it judges the words unfinished
    clips = [spoken(q, SEMANTIC_TAIL if args.semantic else TAIL) for q in QUESTIONS]
    print(f"turn_detection {json.dumps(detection(args))}, {os.cpu_count()} CPUs")
    print(f"first_piece_words={args.first_piece_words}")
    results, loads = measured(args, clips, speculative=True)
    report("speculative answers at pauses (speculative = true)", results, loads)
    if args.compare and not args.url:
        results, loads = measured(args, clips, speculative=False)
        report("the answer started when the turn ends (speculative = false)", results, loads)


if __name__ == "__main__":
    main()
