from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from omnivox.config import EMBEDDED_CHAT_MODEL, load_settings


def test_defaults_serve_the_embedded_model(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert [m.id for m in settings.models] == [EMBEDDED_CHAT_MODEL]
    assert settings.models[0].source == f"embedded:{EMBEDDED_CHAT_MODEL}"
    assert settings.default_model_id == EMBEDDED_CHAT_MODEL
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_precedence_flags_over_env_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "omnivox.toml"
    config.write_text(
        'port = 9001\nhost = "0.0.0.0"\nmax_queued_requests = 3\n'
        '[[models]]\nid = "mine"\nsource = "/models/x.gguf"\ncontext_window = 16384\n'
    )
    monkeypatch.setenv("OMNIVOX_PORT", "9002")
    settings = load_settings(config)
    assert settings.port == 9002  # env beats file
    assert settings.host == "0.0.0.0" and settings.max_queued_requests == 3
    assert settings.models[0].id == "mine" and settings.models[0].context_window == 16384
    assert load_settings(config, port=9003).port == 9003  # flags beat env


def test_nested_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OMNIVOX_MODELS", '[{"id": "a", "source": "/a.gguf"}, {"id": "b", "source": "/b.gguf"}]'
    )
    monkeypatch.setenv("OMNIVOX_DEFAULT_MODEL", "b")
    settings = load_settings()
    assert [m.id for m in settings.models] == ["a", "b"] and settings.default_model_id == "b"


@pytest.mark.parametrize(
    "overrides",
    [
        {"port": 70000},
        {"models": []},
        {"default_model": "missing"},
        {"unknown_field": 1},
        {"models": [{"context_window": 10}]},
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        load_settings(**overrides)
