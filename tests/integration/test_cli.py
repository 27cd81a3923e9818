"""`omnivox serve` as a user runs it: a process on the embedded defaults, with no configuration."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.model


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_with_no_configuration_then_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIVOX_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "omnivox", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        assert health.json()["models"] == ["smollm2-135m-instruct"]
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            timeout=60,
            json={
                "model": "gpt-4o-audio-preview",
                "messages": [{"role": "user", "content": "Hi"}],
                "max_tokens": 4,
            },
        )
        assert answer.status_code == 200 and answer.json()["usage"]["completion_tokens"] <= 4
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0


def test_invalid_settings_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("port = 'not a port'\n")
    result = subprocess.run(
        [sys.executable, "-m", "omnivox", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "invalid settings" in result.stderr


def test_missing_model_file_fails_at_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "omnivox",
            "serve",
            "--model",
            str(tmp_path / "none.gguf"),
            "--port",
            str(_free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot load models" in result.stderr and "none.gguf" in result.stderr
