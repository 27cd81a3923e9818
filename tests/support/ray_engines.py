"""Engines the Ray replicas of the tests load (`Loaders.chat`): a fake language model, imported by
reference in each replica's process. It echoes as the other tests' fake does; a prompt that says
`forever` gets an answer that does not end, for the mid-stream tests. Each replica notes, under
$OMNIVOX_RAY_TEST_DIR, its PID when it starts such an answer and how many tokens it has appended, so that
a test can kill the replica serving a stream, or see that a closed stream stopped it."""

from __future__ import annotations

import os
from pathlib import Path

from omnivox.backends.logits.model import LogitsChatModel
from omnivox.config import ModelSettings
from omnivox.runtimes.chat_model import ChatModel
from omnivox.runtimes.language_model import Logits
from omnivox.runtimes.worker import ModelWorker
from tests.support.fakes import FakeLanguageModel, echo_script

ENDLESS = "z" * 1_000_000


def _note(name: str, value: int) -> None:
    folder = Path(os.environ["OMNIVOX_RAY_TEST_DIR"])
    (folder / f"{name}.tmp").write_text(str(value))
    (folder / f"{name}.tmp").replace(folder / name)


def _script(prompt: str) -> str:
    if "forever" in prompt:
        _note("endless-pid", os.getpid())
        return ENDLESS
    return echo_script(prompt)


class NotingModel(FakeLanguageModel):
    def append(self, token: int) -> Logits:
        if self.appends % 20 == 0:
            _note(f"appends-{os.getpid()}", self.appends)
        return super().append(token)


def fake_chat(_entry: ModelSettings, worker: ModelWorker) -> ChatModel:
    return LogitsChatModel(NotingModel(_script, delay=0.005), worker)


#: Seconds per token of the benchmark's models, by id (benchmarks/ray.py): the fake sleeps, so it spends
#: no CPU of its own and what is measured is the serving path's.
PACE = {"instant": 0.0, "paced": 0.01}


def paced_chat(entry: ModelSettings, worker: ModelWorker) -> ChatModel:
    return LogitsChatModel(FakeLanguageModel(lambda _prompt: ENDLESS, delay=PACE[entry.id]), worker)
