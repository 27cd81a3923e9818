"""The tiny Qwen2.5-Omni model served in tests: one thread, text or speech."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omnivox.config import OmniModelSettings


def omni_settings(folder: Path, **fields: Any) -> OmniModelSettings:
    return OmniModelSettings.model_validate(
        {"id": "omni-tiny", "backend": "transformers-omni", "source": str(folder), "threads": 1, **fields}
    )
