"""A server process on a fake model, for tests that signal it:
`python -m tests.support.fake_serve PORT FOLDER KEY`. Serves a model that never stops talking, with
SIGTERM handled as `omnivox serve` handles it (a 1 s grace period); on exit, prints what the fake sampled
(JSON), to compare with what the usage store recorded."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import uvicorn

from omnivox.api.app import create_app
from omnivox.backends.logits.model import LogitsChatModel
from omnivox.config import OPENAI_CHAT_ALIASES, LanguageModelSettings, Settings
from omnivox.runtimes.worker import ModelWorker
from omnivox.serving.catalog import ModelCatalog, ServedModel
from tests.support.usage import CountingModel

FAKE_ID = "fake-chat"


def main() -> None:
    port, folder, key = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    fake = CountingModel(lambda _prompt: "z" * 1_000_000, delay=0.002)
    catalog = ModelCatalog(
        [ServedModel(FAKE_ID, LogitsChatModel(fake, ModelWorker(FAKE_ID, 8)), aliases=OPENAI_CHAT_ALIASES)]
    )
    settings = Settings(
        models=[LanguageModelSettings(id=FAKE_ID)],
        api_keys=[key],
        synthesis={"store": str(folder / "audio.sqlite3"), "voices": [], "voice_map": {}},
        shutdown_grace_seconds=1,
    )
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)  # exit 0 after uvicorn's shutdown
    uvicorn.run(
        create_app(settings, catalog),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    print(json.dumps({"sampled": sum(fake.sampled.values()), "prompts": list(fake.prompt_tokens.values())}))


if __name__ == "__main__":
    main()
