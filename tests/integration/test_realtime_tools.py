"""Function calling over /v1/realtime on the real SmolLM2: a call item with its argument deltas, arguments
that validate (decoding runs under the functions' grammar), the tool's output sent back, and the answer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema
import pytest

from omnivox.api.app import create_app
from omnivox.config import load_settings
from tests.support.realtime import Checked, client
from tests.support.server import live_server

pytestmark = [pytest.mark.model, pytest.mark.sdk]

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS = [
    {"type": "function", "name": "get_weather", "description": "Weather in a city", "parameters": WEATHER}
]
ASK = {
    "type": "message",
    "role": "user",
    "content": [{"type": "input_text", "text": "What's the weather in Paris?"}],
}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("store") / "audio.sqlite3"
    settings = load_settings(
        models=[{"context_window": 2048, "max_completion_tokens": 120}], synthesis={"store": str(store)}
    )
    with live_server(create_app(settings)) as base:
        yield base


def test_a_call_its_output_and_the_answer(url: str) -> None:
    with client(url).realtime.connect(model="gpt-realtime") as connection:
        rt = Checked(connection)
        rt.until("session.created")
        session = {
            "type": "realtime",
            "tools": TOOLS,
            "tool_choice": "required",
            "output_modalities": ["text"],
        }
        rt.send({"type": "session.update", "session": session})
        rt.until("session.updated")
        rt.send({"type": "conversation.item.create", "item": ASK})
        rt.send({"type": "response.create"})
        done = rt.until("response.done", timeout=120)["response"]
        assert done["status"] == "completed"
        call = done["output"][0]
        assert call["type"] == "function_call" and call["name"] == "get_weather"
        added = rt.of("response.output_item.added")[0]["item"]
        assert (added["type"], added["call_id"], added["arguments"]) == ("function_call", call["call_id"], "")
        deltas = "".join(e["delta"] for e in rt.of("response.function_call_arguments.delta"))
        finished = rt.of("response.function_call_arguments.done")[0]
        assert deltas == finished["arguments"] == call["arguments"] and finished["name"] == "get_weather"
        jsonschema.validate(json.loads(call["arguments"]), WEATHER)

        output = {
            "type": "function_call_output",
            "call_id": call["call_id"],
            "output": '{"forecast": "sunny"}',
        }
        rt.send({"type": "conversation.item.create", "item": output})
        rt.until("conversation.item.done")
        rt.send({"type": "response.create", "response": {"tool_choice": "none"}})
        answer = rt.until("response.done", timeout=120)["response"]
        assert answer["status"] in ("completed", "incomplete")
        assert answer["output"][0]["type"] == "message" and answer["output"][0]["content"][0]["text"]
