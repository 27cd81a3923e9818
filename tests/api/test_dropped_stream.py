"""A stream that is created but never read (its client left before the first chunk) stops its work."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from omnivox.backends.logits.model import LogitsChatModel
from omnivox.chat.service import ChatService
from omnivox.chat.speaking import Speaker
from omnivox.config import OPENAI_CHAT_ALIASES
from omnivox.protocol.chat import ChatCompletionRequest
from omnivox.runtimes.worker import ModelWorker
from omnivox.serving.catalog import ModelCatalog, ServedModel
from omnivox.storage.audio_store import SQLiteAudioStore
from tests.support.fakes import FakeLanguageModel


def test_a_dropped_stream_cancels_its_generation() -> None:
    fake = FakeLanguageModel(lambda _: "z" * 10_000, delay=0.002)
    worker = ModelWorker("fake", 4)
    catalog = ModelCatalog([ServedModel("fake", LogitsChatModel(fake, worker), aliases=OPENAI_CHAT_ALIASES)])
    store = SQLiteAudioStore(Path(":memory:"))
    service = ChatService(catalog, Speaker(store, 60))
    request = ChatCompletionRequest.model_validate(
        {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "stream": True, "temperature": 0}
    )

    async def drop() -> int:
        prepared = await service.prepare(request)
        await service.stream(prepared)  # created and dropped, never iterated
        gc.collect()
        await asyncio.sleep(0.5)
        first = fake.appends
        await asyncio.sleep(0.5)
        assert fake.appends == first, "generation went on for a stream nobody reads"
        return first

    try:
        assert asyncio.run(drop()) < 1_000
    finally:
        worker.shutdown()
        store.close()
