from __future__ import annotations

from pathlib import Path

import pytest

from omnivox.config import (
    AudioSettings,
    LanguageModelSettings,
    OmniModelSettings,
    RateLimitSettings,
    RealtimeSettings,
    RequestLimits,
    Settings,
    SpeechModelSettings,
    SynthesisSettings,
    UpstreamModelSettings,
    VoiceSettings,
)
from omnivox.usage.settings import ModelPrice, UsageSettings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


FIELDS = [
    *Settings.model_fields,
    *LanguageModelSettings.model_fields,
    *UpstreamModelSettings.model_fields,
    *OmniModelSettings.model_fields,
    *SpeechModelSettings.model_fields,
    *AudioSettings.model_fields,
    *RateLimitSettings.model_fields,
    *RealtimeSettings.model_fields,
    *RequestLimits.model_fields,
    *SynthesisSettings.model_fields,
    *VoiceSettings.model_fields,
    *UsageSettings.model_fields,
    *ModelPrice.model_fields,
]


@pytest.mark.parametrize("field", sorted(set(FIELDS)))
def test_every_setting_is_documented(field: str) -> None:
    assert f"| `{field}` |" in DOC
