"""The Realtime API's turn latency: from the end of the user's speech to the first audio delta of the
answer, over WebSocket, with server VAD, on the default models (SmolLM2, Whisper tiny.en, the alloy voice).

    .venv/bin/python -m benchmarks.realtime [--runs 10] [--silence-ms 200]

Each run opens a session, streams a spoken question (flite rms, 0.5 s of silence before, 1.5 s after)
in 20 ms chunks at microphone pace, and times, from the moment the last chunk holding speech was sent:
`speech_stopped` (the VAD's silence window), `committed`, the first transcript delta and the first audio
delta. The server is `omnivox serve` in its own process; the client is a plain `websockets` connection.
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
LEAD, TAIL = 0.5, 1.5


def spoken(text: str) -> tuple[bytes, float]:
    """pcm16 24 kHz of `text` with silence around it, and where the speech ends (s from the start)."""
    voice = load_voice(VoiceSettings(id="rms", backend="flite", source="rms"))
    speech = np.concatenate([a.resampled(RATE).samples for a in voice.synthesize(text)])
    audio = np.concatenate(
        [np.zeros(int(LEAD * RATE), np.float32), speech, np.zeros(int(TAIL * RATE), np.float32)]
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


def turn(url: str, pcm: bytes, speech_end: float, silence_ms: int) -> dict[str, float]:
    """Seconds from the end of speech to each milestone of one turn."""
    marks: dict[str, float] = {}
    firsts = {
        "input_audio_buffer.speech_stopped": "stopped",
        "input_audio_buffer.committed": "committed",
        "response.created": "response",
        "response.output_audio_transcript.delta": "first words",
        "response.output_audio.delta": "first audio",
    }
    with websockets.sync.client.connect(url, max_size=None) as ws:
        ws.recv()  # session.created
        turn_detection = {"type": "server_vad", "silence_duration_ms": silence_ms}
        session = {
            "type": "realtime",
            "instructions": "Answer in one short sentence.",
            "max_output_tokens": 60,
            "audio": {"input": {"turn_detection": turn_detection}},
        }
        ws.send(json.dumps({"type": "session.update", "session": session}))
        sender = threading.Thread(target=stream, args=(ws, pcm, speech_end, marks))
        sender.start()
        while True:
            event = json.loads(ws.recv(timeout=120))
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--silence-ms", type=int, default=200)
    args = parser.parse_args()
    clips = [spoken(q) for q in QUESTIONS]
    results: list[dict[str, float]] = []
    with server_process(models=[{"context_window": 2048}]) as url:
        ws_url = url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"
        turn(ws_url, *clips[0], args.silence_ms)  # warm-up: first loads, caches
        for n in range(args.runs):
            results.append(turn(ws_url, *clips[n % len(clips)], args.silence_ms))
    load = os.getloadavg()
    print(f"{args.runs} turns, server_vad silence_duration_ms={args.silence_ms}, load average {load[0]:.2f}")
    print("seconds from the end of the user's speech to:   median    p90")
    for name in ("stopped", "committed", "response", "first words", "first audio", "done"):
        values = sorted(r[name] for r in results if name in r)
        p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
        print(f"  {name:<46} {statistics.median(values):6.2f} {p90:6.2f}")


if __name__ == "__main__":
    main()
