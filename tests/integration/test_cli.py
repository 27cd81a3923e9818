"""`omnivox serve` as a user runs it: a process on the embedded defaults, with no configuration."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from omnivox.config import EMBEDDED_SPEECH_MODEL

pytestmark = pytest.mark.model


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_with_no_configuration_then_sigterm(tmp_path: Path) -> None:
    process, url = _start(tmp_path)
    try:
        health = httpx.get(f"{url}/health", timeout=5)
        assert health.json()["models"] == ["smollm2-135m-instruct"]
        answer = httpx.post(
            f"{url}/v1/chat/completions",
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


def _start(tmp_path: Path, **env_settings: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIVOX_")}
    env.update({f"OMNIVOX_{k.upper()}": v for k, v in env_settings.items()})
    process = subprocess.Popen(
        [sys.executable, "-m", "omnivox", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/health", timeout=1)
            return process, url
        except httpx.TransportError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)


def test_sigterm_cancels_a_long_stream_after_the_grace_period_and_keeps_the_store(tmp_path: Path) -> None:
    store = tmp_path / "audio.sqlite3"
    process, url = _start(tmp_path, shutdown_grace_seconds="2", synthesis__store=str(store))
    try:
        spoken = httpx.post(
            f"{url}/v1/chat/completions",
            timeout=120,
            json={
                "model": "gpt-4o-audio-preview",
                "messages": [{"role": "user", "content": "Say hello."}],
                "modalities": ["text", "audio"],
                "audio": {"voice": "alloy", "format": "wav"},
                "max_tokens": 8,
            },
        )
        assert spoken.status_code == 200
        audio_id = spoken.json()["choices"][0]["message"]["audio"]["id"]
        request_id = spoken.headers["x-request-id"]

        endless = {
            "model": "gpt-4o-audio-preview",
            "messages": [{"role": "user", "content": "Count to ten thousand."}],
            "logit_bias": {"0": -100, "1": -100, "2": -100},  # SmolLM2's end tokens: it cannot stop
            "max_tokens": 5000,
            "stream": True,
        }
        chunks = 0
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=endless, timeout=60) as response:
            lines = response.iter_lines()
            while chunks < 10:
                chunks += next(lines).startswith("data: ")
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            time.sleep(0.5)
            with pytest.raises(httpx.TransportError):  # no new connections once shutting down
                httpx.get(f"{url}/health", timeout=2)
            with pytest.raises(httpx.TransportError):  # the stream is cut when the grace period ends
                for line in lines:
                    chunks += line.startswith("data: ")
            cut_after = time.monotonic() - signalled
        code = process.wait(timeout=30)
        exited_after = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
    output = process.stdout.read() if process.stdout else ""
    assert code == 0, output
    assert 1.5 < cut_after < 6, (cut_after, output)
    assert exited_after < 10, output
    assert chunks > 10  # it streamed during the grace period
    assert request_id in output  # the access line names the request
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM audio WHERE id = ?", (audio_id,)).fetchone() == (1,)
    # usage, beside the audio store: both requests, the one cut at the grace period with what it generated
    with sqlite3.connect(tmp_path / "usage.sqlite3") as db:
        requests, output = db.execute(
            "SELECT SUM(requests), SUM(output_tokens) FROM usage WHERE surface = 'completions'"
        ).fetchone()
    assert requests == 2
    assert (
        output >= spoken.json()["usage"]["completion_tokens"] + chunks - 1
    )  # each text chunk: a token or more


def test_bad_api_keys_file_refuses_to_start(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("has a space\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIVOX_")}
    result = subprocess.run(
        [sys.executable, "-m", "omnivox", "serve", "--port", str(_free_port())],
        env={**env, "OMNIVOX_API_KEYS_FILE": str(keys)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "API keys" in result.stderr


#: A ggml CPU module that claims to be the best for any CPU and executes an illegal instruction when it is
#: loaded: what a kernel family this machine (or its hypervisor) cannot run does to the process.
_CRASHING_MODULE = """
int ggml_backend_score(void) { return 1 << 20; }
void * ggml_backend_init(void) { __builtin_trap(); return 0; }
"""


def test_a_model_whose_native_code_crashes_stops_serve_with_exit_1_naming_it(tmp_path: Path) -> None:
    from omnivox.backends.llama_cpp.library import library_dir

    libraries = tmp_path / "lib"
    shutil.copytree(library_dir(), libraries)
    source = tmp_path / "crash.c"
    source.write_text(_CRASHING_MODULE)
    subprocess.run(
        ["cc", "-shared", "-fPIC", str(source), "-o", str(libraries / "libggml-cpu-crash.so")], check=True
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIVOX_")}
    env["LLAMA_CPP_LIB_PATH"] = str(libraries)
    result = subprocess.run(
        [sys.executable, "-m", "omnivox", "serve", "--port", str(_free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "smollm2-135m-instruct" in result.stderr and "SIGILL" in result.stderr
    assert "instructions this machine cannot run" in result.stderr
    assert "Fatal Python error" in result.stderr and "selfcheck.py" in result.stderr  # the child's stack


def test_serve_logs_each_models_load_and_check_time(tmp_path: Path) -> None:
    process, url = _start(tmp_path)
    try:
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    for kind, model in (
        ("chat model", "smollm2-135m-instruct"),
        ("speech model", EMBEDDED_SPEECH_MODEL),
        ("voice", "joe"),
    ):
        assert f"loaded {kind} '{model}' in" in output
        assert f"self-check: {kind} '{model}' ran in" in output
    assert "ran one decode step in a child process" in output
    assert re.search(r"llama\.cpp [\d.]+, CPU kernels \w+ \(of \d+ built\)", output)
