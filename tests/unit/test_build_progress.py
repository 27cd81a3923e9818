"""scripts/llama-wheel.sh turns the build's step counter (ninja or make) into percentages on stderr."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "llama-wheel.sh"


def _progress(log: str) -> list[str]:
    function = SCRIPT.read_text().split("build_progress() {", 1)[1].split("\n}\n", 1)[0]
    done = subprocess.run(
        ["bash", "-c", f"build_progress() {{{function}\n}}\nbuild_progress"],
        input=log,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout == ""  # stdout carries only the wheel's path
    return done.stderr.splitlines()


def test_ninja_steps_become_percentages_once_each() -> None:
    log = "  [1/400] Building C object a.o\nnoise [2/3] here\n  [2/400] x\n  [200/400] Link\n[400/400] ok\n"
    assert _progress(log) == [
        "omnivox: building llama.cpp: 0% (0 min)",
        "omnivox: building llama.cpp: 50% (0 min)",
        "omnivox: building llama.cpp: 100% (0 min)",
    ]


def test_make_percentages() -> None:
    assert _progress("[  5%] a\n  [ 45%] Building CXX\n[ 45%] b\n") == [
        "omnivox: building llama.cpp: 5% (0 min)",
        "omnivox: building llama.cpp: 45% (0 min)",
    ]
