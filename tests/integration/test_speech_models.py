"""Loading speech models: embedded packages, the joined Whisper base, any faster-whisper folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from omnivox.audio.decode import AudioLimits, decode
from omnivox.audio.pcm import Audio
from omnivox.config import SpeechModelSettings
from omnivox.errors import ModelLoadError
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.serving import registry
from omnivox.serving.registry import load_speech_model, resolve_speech_source
from tests.support.wer import wer

pytestmark = pytest.mark.model


def test_any_faster_whisper_folder_by_path(tmp_path: Path, librivox: list[tuple[Path, str]]) -> None:
    folder = tmp_path / "my-whisper"
    shutil.copytree(resolve_speech_source("embedded:whisper-tiny.en", tmp_path), folder)
    recognizer = load_speech_model(SpeechModelSettings(id="mine", source=str(folder)), tmp_path)
    try:
        path, reference = librivox[0]
        audio = decode(path.read_bytes(), "wav", AudioLimits())
        assert wer([reference], [recognizer.recognize(audio).complete().text]) < 0.1
        assert not recognizer.info.multilingual
    finally:
        recognizer.close()


def test_a_folder_without_weights_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no model\.bin"):
        load_speech_model(SpeechModelSettings(source=str(tmp_path)), tmp_path)
    with pytest.raises(ModelLoadError, match="unknown backend"):
        load_speech_model(SpeechModelSettings(backend="nope"), tmp_path)


def test_whisper_base_is_joined_once_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = resolve_speech_source("embedded:whisper-base", tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert resolve_speech_source("embedded:whisper-base", tmp_path) == folder  # joined once
    assert (folder / "model.bin").stat().st_mtime_ns == stamp
    monkeypatch.setattr(registry, "WHISPER_BASE_SHA256", "0" * 64)
    other = tmp_path / "other"
    with pytest.raises(ModelLoadError, match="sha256"):
        resolve_speech_source("embedded:whisper-base", other)
    assert not any(other.rglob("model.bin*"))  # nothing half-written is left behind


def test_any_piper_voice_by_path(tmp_path: Path, tiny_whisper: SpeechRecognizer) -> None:
    from omnivox.config import VoiceSettings
    from omnivox.serving.registry import EMBEDDED_VOICES, load_voice

    model = EMBEDDED_VOICES["en_US-joe-medium"]()
    for source in (model, model.with_name(model.name + ".json")):
        shutil.copy(source, tmp_path / source.name.replace("joe", "mine"))
    voice = load_voice(
        VoiceSettings(id="mine", backend="piper", source=str(tmp_path / "en_US-mine-medium.onnx"))
    )
    audio = list(voice.synthesize("The weather is lovely today."))
    assert audio and audio[0].sample_rate == 22050
    joined = Audio(np.concatenate([a.samples for a in audio]), 22050)
    assert wer(["the weather is lovely today"], [tiny_whisper.recognize(joined).complete().text]) < 0.2
    with pytest.raises(ModelLoadError, match="needs"):
        load_voice(VoiceSettings(id="x", backend="piper", source=str(tmp_path / "missing.onnx")))
