"""/v1/realtime under the openai-agents SDK (RealtimeAgent / RealtimeRunner), the strictest client: it
validates every server event against the SDK's types and reports any that does not fit as an error. Its
defaults are semantic_vad with interrupt_response and input transcription; a spoken question streamed in
real time is heard, answered in speech, and kept in the agent's history. openai-agents needs openai 3.x,
so it is the `agents` extra, installed by scripts/test.sh for the main run only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from tests.conftest import serve_fake
from tests.support.fakes import FakeLanguageModel
from tests.support.realtime import CHUNK, RATE, spoken

realtime = pytest.importorskip("agents.realtime")
pytestmark = pytest.mark.model

QUESTION = "What is the weather like in Paris today?"


@pytest.fixture(scope="module")
def url(tiny_whisper: SpeechRecognizer, voices: dict[str, SpeechSynthesizer]) -> Iterator[str]:
    model = FakeLanguageModel(confidence=40.0)
    with serve_fake(model, speech=[tiny_whisper], voices={"slt": voices["slt"]}, upstream=False) as (base, _):
        yield base


async def _turn(url: str, pcm: bytes) -> tuple[list[Any], list[Any]]:
    agent = realtime.RealtimeAgent(name="Assistant", instructions="Answer briefly.")
    runner = realtime.RealtimeRunner(agent)
    config = {"url": url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime", "api_key": "sk-test"}
    events: list[Any] = []
    async with await runner.run(model_config=config) as session:  # type: ignore[arg-type]

        async def microphone() -> None:
            for at in range(0, len(pcm), CHUNK):
                await session.send_audio(pcm[at : at + CHUNK])
                await asyncio.sleep(CHUNK / 2 / RATE)

        sending = asyncio.create_task(microphone())
        async with asyncio.timeout(90):
            async for event in session:
                events.append(event)
                if event.type == "agent_end":  # after the response's response.done
                    break
        sending.cancel()
        history = list(session._history)
    return events, history


def test_an_agent_hears_a_spoken_question_and_answers_in_speech(
    url: str, voices: dict[str, SpeechSynthesizer]
) -> None:
    pcm = spoken(voices["rms"], QUESTION, tail=5.0)  # the microphone stays open after the question
    events, history = asyncio.run(_turn(url, pcm))
    kinds = [e.type for e in events]
    assert "error" not in kinds, [e for e in events if e.type == "error"]
    assert kinds.count("audio") > 3 and "agent_end" in kinds
    said = [item for item in history if item.type == "message" and item.role == "user"]
    heard = " ".join(str(part.transcript) for item in said for part in item.content).lower()
    assert "paris" in heard
    answers = [item for item in history if item.type == "message" and item.role == "assistant"]
    assert answers and "paris" in str(answers[-1].content[0].transcript).lower()
