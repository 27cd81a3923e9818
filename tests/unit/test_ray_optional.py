"""Without `--ray`, nothing of Ray is imported: the single process builds and serves as before, whether
or not the `ray` extra is installed."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
from omnivox import cli
from omnivox.api.app import create_app
from omnivox.config import Settings
create_app(Settings())
cli._parser().parse_args(["serve", "--port", "0"])
print(sorted(m for m in sys.modules if m == "ray" or m.startswith(("ray.", "omnivox.scaling"))))
"""


def test_the_single_process_imports_nothing_of_ray() -> None:
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"
