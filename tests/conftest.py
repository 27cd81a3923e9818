from __future__ import annotations

import contextlib
import contextvars
import functools
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from omnivox.api.app import create_app
from omnivox.backends.logits.model import LogitsChatModel
from omnivox.backends.upstream.model import UpstreamChatModel
from omnivox.config import (
    DEFAULT_VOICE_MAP,
    OPENAI_CHAT_ALIASES,
    OPENAI_SPEECH_ALIASES,
    LanguageModelSettings,
    Settings,
    UpstreamModelSettings,
)
from omnivox.runtimes.chat_model import ChatModel
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from omnivox.runtimes.worker import ModelWorker
from omnivox.serving.catalog import ModelCatalog, ServedModel, ServedSpeechModel, ServedVoice
from tests.support.fakes import FakeLanguageModel
from tests.support.server import live_server

FAKE_ID = "fake-chat"
SPEECH_ID = "whisper-test"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


#: Whether `serve_fake` puts the fake behind a second omnivox, reached as an upstream text stage
#: (`backend = "openai"`); modules run their tests both ways with the `through_upstream` fixture.
_UPSTREAM: contextvars.ContextVar[bool] = contextvars.ContextVar("upstream", default=False)


@pytest.fixture(params=["local", "upstream"])
def through_upstream(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Use as `pytestmark = pytest.mark.usefixtures("through_upstream")`: each test of the module runs
    with the fake served directly, and again behind an omnivox whose text stage is upstream."""
    token = _UPSTREAM.set(request.param == "upstream")
    try:
        yield _UPSTREAM.get()
    finally:
        _UPSTREAM.reset(token)


@contextlib.contextmanager
def serve_fake(
    model: FakeLanguageModel | None = None,
    *,
    speech: Sequence[SpeechRecognizer] = (),
    voices: Mapping[str, SpeechSynthesizer] | None = None,
    max_pending: int = 8,
    upstream: bool | None = None,
    voice_pending: int | None = None,
    voice_parallel: int = 1,
    default_max_tokens: int | None = None,
    **settings: Any,
) -> Iterator[tuple[str, FakeLanguageModel]]:
    """A live server on loopback whose language model is a fake, with the given speech recognisers (the
    first under the OpenAI aliases) and voices (mapped from OpenAI's names as configured by default);
    spoken answers are stored in a temporary SQLite file. Yields (base_url, fake).

    `voice_parallel`: texts each voice speaks at once (its worker's threads; `synthesis.parallel`).
    `upstream` (default: the `through_upstream` fixture's choice): the fake is served by a second omnivox,
    and this one reaches it as an OpenAI-compatible upstream, so its text stage is the upstream backend."""
    fake = model or FakeLanguageModel()
    if upstream if upstream is not None else _UPSTREAM.get():
        with serve_chat(lambda worker: LogitsChatModel(fake, worker), max_pending=max_pending) as back:
            entry = UpstreamModelSettings(
                id=FAKE_ID, backend="openai", base_url=f"{back}/v1", upstream_model=FAKE_ID, read_timeout=60
            )
            chat = functools.partial(UpstreamChatModel, entry)
            with serve_chat(
                chat,
                speech=speech,
                voices=voices,
                max_pending=max_pending,
                voice_pending=voice_pending,
                voice_parallel=voice_parallel,
                **settings,
            ) as url:
                yield url, fake
        return
    with serve_chat(
        lambda worker: LogitsChatModel(fake, worker),
        speech=speech,
        voices=voices,
        max_pending=max_pending,
        voice_pending=voice_pending,
        voice_parallel=voice_parallel,
        default_max_tokens=default_max_tokens,
        **settings,
    ) as url:
        yield url, fake


@contextlib.contextmanager
def serve_chat(
    chat: Callable[[ModelWorker], ChatModel],
    *,
    speech: Sequence[SpeechRecognizer] = (),
    voices: Mapping[str, SpeechSynthesizer] | None = None,
    max_pending: int = 8,
    model_id: str = FAKE_ID,
    voice_pending: int | None = None,
    voice_parallel: int = 1,
    default_max_tokens: int | None = None,
    **settings: Any,
) -> Iterator[str]:
    """A live server on loopback whose one chat model (`model_id`, under OpenAI's aliases) is made by
    `chat` from its worker; speech recognisers and voices as in `serve_fake`. Yields the base URL."""
    voices = voices or {}
    served_voices = [
        ServedVoice(name, v, ModelWorker(f"voice-{name}", voice_pending or max_pending, voice_parallel))
        for name, v in voices.items()
    ]
    recognizers = [
        ServedSpeechModel(
            f"{SPEECH_ID}-{i}" if i else SPEECH_ID,
            runtime,
            ModelWorker(f"speech-{i}", max_pending),
            aliases=() if i else OPENAI_SPEECH_ALIASES,
        )
        for i, runtime in enumerate(speech)
    ]
    served = ServedModel(
        model_id,
        chat(ModelWorker(model_id, max_pending)),
        aliases=OPENAI_CHAT_ALIASES,
        default_max_tokens=default_max_tokens,
    )
    voice_map = {k: v for k, v in DEFAULT_VOICE_MAP.items() if v in voices}
    catalog = ModelCatalog([served], recognizers, served_voices, voice_map)
    with tempfile.TemporaryDirectory(prefix="omnivox-test-") as folder:
        settings.setdefault(
            "synthesis",
            {
                "store": str(Path(folder) / "audio.sqlite3"),
                "voice_map": voice_map,
                "voices": [{"id": name, "source": name} for name in voices],
                "parallel": voice_parallel,
            },
        )
        app = create_app(Settings(models=[LanguageModelSettings(id=model_id)], **settings), catalog=catalog)
        try:
            with live_server(app) as url:
                yield url
        finally:  # the runtimes are shared between tests: stop only the workers made here
            for worker in [
                served.worker,
                *(r.worker for r in recognizers),
                *(v.worker for v in served_voices),
            ]:
                worker.shutdown()


@pytest.fixture
def fake_server() -> Iterator[tuple[str, FakeLanguageModel]]:
    with serve_fake() as served:
        yield served


@pytest.fixture(scope="session")
def tiny_whisper() -> Iterator[SpeechRecognizer]:
    """The embedded Whisper tiny.en, loaded once for the whole session, on the whole 30 s encoder window:
    the segments and first words the tests assert were measured on it (on a window cut to the clip,
    tiny.en makes one segment of a 7 s LibriVox clip and drops its leading "And"; the default recogniser,
    Whisper base, does neither: tests/integration/test_transcription.py)."""
    from omnivox.backends.whisper import WhisperRecognizer
    from omnivox.serving.registry import resolve_speech_source

    recognizer = WhisperRecognizer(
        resolve_speech_source("embedded:whisper-tiny.en", Path("/nonexistent")), encoder_padding_s=None
    )
    yield recognizer
    recognizer.close()


@pytest.fixture(scope="session")
def librivox() -> list[tuple[Path, str]]:
    """Debian's real LibriVox clips (pocketsphinx-testdata) with their reference transcripts."""
    references = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        words, _, clip = line.rpartition("(")
        references[clip.rstrip(")").strip()] = words.replace("<s>", "").replace("</s>", "").strip()
    return [(LIBRIVOX / f"{clip}.wav", text) for clip, text in sorted(references.items())]


@pytest.fixture(scope="session")
def voices() -> dict[str, SpeechSynthesizer]:
    """The four default voices (Piper joe, flite slt, rms, awb), loaded once for the session."""
    from omnivox.config import VoiceSettings
    from omnivox.serving.registry import load_voice

    return {
        "joe": load_voice(VoiceSettings(id="joe", backend="piper", source="embedded:en_US-joe-medium")),
        **{
            name: load_voice(VoiceSettings(id=name, backend="flite", source=name))
            for name in ("slt", "rms", "awb")
        },
    }


@pytest.fixture(scope="session")
def tiny_omni(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2.5-Omni folder, built offline once per session (imports torch)."""
    import torch

    from omnivox.testing.tiny_omni import build_tiny_omni

    torch.set_num_threads(1)  # 2 busy cores: 2 threads made one DiT call 23 s instead of 0.3 s
    return build_tiny_omni(tmp_path_factory.mktemp("tiny-omni"))
