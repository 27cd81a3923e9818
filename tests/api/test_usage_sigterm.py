"""SIGTERM loses no count: a stream cut when the grace period ends is charged exactly what the model
generated, written to the store before the process exits (a server process on a fake model)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from omnivox.api.keys import label_of

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-sigterm-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sigterm_writes_every_count_of_a_stream_cut_short(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIVOX_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_serve", str(port), str(tmp_path), KEY],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        body = {
            "model": "gpt-4o-audio-preview",
            "messages": [{"role": "user", "content": "go"}],
            "stream": True,
            "temperature": 0,
        }
        headers = {"Authorization": f"Bearer {KEY}"}
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30) as r:
            lines = r.iter_lines()
            for _ in range(20):
                next(lines)
            process.send_signal(signal.SIGTERM)
            try:  # until the grace period ends and the stream is cut
                for _ in lines:
                    pass
            except httpx.TransportError:
                pass
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    generated = json.loads(out.strip().splitlines()[-1])
    assert generated["sampled"] > 100  # it generated through the grace period
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        found = db.execute(
            "SELECT api_key, model, SUM(requests), SUM(input_tokens), SUM(output_tokens) FROM usage "
            "GROUP BY api_key, model"
        ).fetchall()
    assert found == [
        (label_of(KEY), "gpt-4o-audio-preview", 1, generated["prompts"][0], generated["sampled"])
    ]
