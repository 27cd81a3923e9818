from __future__ import annotations

from pathlib import Path

import pytest

from omnivox.config import LanguageModelSettings, Settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


@pytest.mark.parametrize("field", [*Settings.model_fields, *LanguageModelSettings.model_fields])
def test_every_setting_is_documented(field: str) -> None:
    assert f"| `{field}` |" in DOC
