"""`omnivox serve` in its own process for the benchmarks, as deployed: configured only by OMNIVOX_*
environment variables, so a client's parsing never shares the server's GIL; stopped on leaving,
whatever happened."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx

STARTUP_SECONDS = 300.0


@contextlib.contextmanager
def server_process(startup_seconds: float = STARTUP_SECONDS, **settings: Any) -> Iterator[str]:
    """Yields the base URL. Each keyword is a setting (`models=[...]`, `speech_models=[...]`), passed as
    JSON in `OMNIVOX_<NAME>`; spoken answers go to a temporary store unless `synthesis` says otherwise.
    `startup_seconds`: how long the server may take to answer /health (imports, loads, self-check)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="omnivox-bench-") as folder, tempfile.TemporaryFile() as log:
        settings["synthesis"] = {
            "store": str(Path(folder) / "audio.sqlite3"),
            **settings.get("synthesis", {}),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIVOX_")}
        env.update({f"OMNIVOX_{name.upper()}": json.dumps(value) for name, value in settings.items()})
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "omnivox", "serve", "--port", str(port)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_healthy(url, process, log, startup_seconds)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: IO[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"omnivox serve exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"omnivox serve did not answer /health within {seconds:.0f} s")
