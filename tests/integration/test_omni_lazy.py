"""torch (and transformers) are imported only when a transformers-omni model is configured: serving the
default models must not pay their seconds of import or their memory."""

from __future__ import annotations

import subprocess
import sys

import pytest

_SERVE_DEFAULTS = """
import sys
from omnivox.api.app import create_app
from omnivox.config import Settings
from omnivox.serving.catalog import ModelCatalog

settings = Settings()
catalog = ModelCatalog.load(settings)
create_app(settings, catalog=catalog)
assert [m.id for m in catalog.models] == ["smollm2-135m-instruct"], [m.id for m in catalog.models]
heavy = sorted(name for name in ("torch", "transformers") if name in sys.modules)
print("heavy:", heavy)
"""


@pytest.mark.model
def test_serving_the_default_models_imports_no_torch() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SERVE_DEFAULTS], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "heavy: []" in done.stdout, done.stdout
