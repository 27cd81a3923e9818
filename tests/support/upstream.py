"""Real upstream text stages for tests and benchmarks: llama.cpp's own OpenAI server
(`python -m llama_cpp.server`, from the llama-cpp-python we build) and `omnivox serve`, each started as a
process on a free loopback port and stopped by its PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

#: llama.cpp's server imports llama_cpp, whose CPU kernels are modules loaded at run time: load them first.
_LLAMA_SERVER = (
    "from omnivox.backends.llama_cpp.library import load_backends; load_backends(); "
    "import runpy, sys; sys.argv = ['llama_cpp.server', *sys.argv[1:]]; "
    "runpy.run_module('llama_cpp.server', run_name='__main__')"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def process_server(
    args: Sequence[str],
    port: int,
    *,
    ready: str = "/v1/models",
    timeout: float = 180.0,
    log: Path | None = None,
) -> Iterator[str]:
    """Run `args` (a server listening on 127.0.0.1:`port`), wait until `ready` answers 200; yields the
    base URL. The process is stopped by its PID (SIGTERM, then SIGKILL)."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(list(args), stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}: {' '.join(args)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + ready, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {timeout} s")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            out.close()  # type: ignore[union-attr]


@contextlib.contextmanager
def llama_server(
    model: Path, *, context: int = 2048, threads: int = 2, log: Path | None = None
) -> Iterator[str]:
    """llama.cpp's OpenAI server on `model` (a GGUF); yields its base URL (without /v1)."""
    port = free_port()
    args = [sys.executable, "-c", _LLAMA_SERVER, "--model", str(model), "--host", "127.0.0.1"]
    args += [
        "--port",
        str(port),
        "--n_ctx",
        str(context),
        "--n_threads",
        str(threads),
        "--model_alias",
        "smollm2",
    ]
    with process_server(args, port, log=log) as base:
        yield base


@contextlib.contextmanager
def omnivox_server(*extra: str, log: Path | None = None) -> Iterator[str]:
    """`omnivox serve` as a process (the embedded models), on a free port; yields its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "omnivox", "serve", "--host", "127.0.0.1", "--port", str(port), *extra]
    with process_server(args, port, ready="/health", log=log) as base:
        yield base
