"""/v1/realtime access: API keys as on HTTP (header, or the browser subprotocol), OpenAI's refusal (an
error event, then close 3000), the cap on open sessions, and two sessions that never see each other."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import websockets.sync.client
from websockets.exceptions import ConnectionClosed

from tests.conftest import serve_fake
from tests.support.fakes import FakeLanguageModel
from tests.support.realtime import Checked, client

pytestmark = pytest.mark.sdk

KEY = "sk-realtime-test"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    settings = {"api_keys": [KEY], "realtime": {"max_sessions": 2}}
    with serve_fake(FakeLanguageModel(confidence=40.0), upstream=False, **settings) as (base, _):
        yield base


def _ws(url: str) -> str:
    return url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk-wrong"}])
def test_a_missing_or_wrong_key_is_an_error_then_close_3000(url: str, headers: dict[str, str]) -> None:
    with websockets.sync.client.connect(_ws(url), additional_headers=headers) as ws:
        event = json.loads(ws.recv(timeout=10))
        assert event["type"] == "error" and event["error"]["code"] == "invalid_api_key"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 3000


def test_the_browser_subprotocol_carries_the_key(url: str) -> None:
    protocols = ["realtime", f"openai-insecure-api-key.{KEY}"]
    with websockets.sync.client.connect(_ws(url), subprotocols=protocols) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "realtime"
        assert json.loads(ws.recv(timeout=10))["type"] == "session.created"


def test_two_sessions_never_see_each_other_and_the_cap_holds(url: str) -> None:
    sdk = client(url, KEY)
    with sdk.realtime.connect(model="gpt-realtime") as a, sdk.realtime.connect(model="other") as b:
        first, second = Checked(a), Checked(b)
        ids = {
            first.until("session.created")["session"]["id"],
            second.until("session.created")["session"]["id"],
        }
        assert len(ids) == 2
        with websockets.sync.client.connect(
            _ws(url), additional_headers={"Authorization": f"Bearer {KEY}"}
        ) as ws:
            refused = json.loads(ws.recv(timeout=10))
            assert refused["error"]["code"] == "server_overloaded"
        for rt, words in ((first, "apples"), (second, "pears")):
            item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": words}]}
            rt.send({"type": "conversation.item.create", "item": item})
            rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        answers = [rt.until("response.done")["response"] for rt in (first, second)]
        assert answers[0]["output"][0]["content"][0]["text"] == "You said: apples"
        assert answers[1]["output"][0]["content"][0]["text"] == "You said: pears"
        theirs = second.of("conversation.item.added")[0]["item"]["id"]
        first.send({"type": "conversation.item.retrieve", "item_id": theirs, "event_id": "evt_peek"})
        assert first.error()["event_id"] == "evt_peek"
