"""The playground page in a real headless Chromium against a live server (fake language model, the
real Whisper tiny.en and flite voice): typed and spoken turns show text and play audible audio, API errors
are shown, no console errors, no request leaves the host."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from omnivox.audio.pcm import Audio
from omnivox.config import VoiceSettings
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.serving.registry import load_voice
from tests.conftest import serve_fake
from tests.support.audio import encode
from tests.support.browser import chromium, console_errors, element, requested_urls, wait_for
from tests.support.fakes import FakeLanguageModel

pytestmark = pytest.mark.browser

QUESTION = "What is the capital of France?"
MIC_SILENCE = 6.0  # seconds after the question, so a recording holds it once
AUDIBLE_DB = -40.0  # flite speech plays at about -20 dBFS RMS; silence reads -100


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The question spoken by Piper's joe, then silence (Chromium plays the file in a loop), as a WAV for
    the fake microphone."""
    voice = load_voice(VoiceSettings(id="joe", backend="piper", source="embedded:en_US-joe-medium"))
    try:
        spoken = list(voice.synthesize(QUESTION))
    finally:
        voice.close()
    rate = spoken[0].sample_rate
    samples = np.concatenate([a.samples for a in spoken] + [np.zeros(int(MIC_SILENCE * rate), np.float32)])
    path = tmp_path_factory.mktemp("mic") / "question.wav"
    path.write_bytes(encode(Audio(samples, rate)))
    return path


@pytest.fixture(scope="module")
def server(tiny_whisper: SpeechRecognizer) -> Iterator[str]:
    voice = load_voice(VoiceSettings(id="slt", backend="flite", source="slt"))
    try:
        # confident enough that sampling at the default temperature 1 always follows the script
        model = FakeLanguageModel(confidence=40.0, grammars=True)  # schemas are checked
        with serve_fake(model, speech=[tiny_whisper], voices={"slt": voice}) as (url, _fake):
            yield url
    finally:
        voice.close()


@pytest.fixture(scope="module")
def browser(microphone: Path) -> Iterator[webdriver.Chrome]:
    with chromium(microphone) as driver:
        yield driver


@pytest.fixture
def page(browser: webdriver.Chrome, server: str) -> Iterator[webdriver.Chrome]:
    browser.get(server + "/")
    wait_for(lambda: element(browser, "status").get_attribute("data-state") == "idle", 30, "the page to load")
    yield browser
    assert console_errors(browser) == []
    network = [u for u in requested_urls(browser) if u.split(":", 1)[0] in ("http", "https", "ws", "wss")]
    assert network, "the performance log saw no request"
    assert [u for u in network if not u.startswith(server + "/")] == [], "requests that left the host"


def _screenshot(driver: webdriver.Chrome, name: str) -> None:
    """For the docs: OMNIVOX_SCREENSHOTS=docs/images pytest tests/browser"""
    folder = os.environ.get("OMNIVOX_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def _answer_with_audio(driver: webdriver.Chrome, expected: str) -> float:
    """Waits until the answer contains `expected` and has finished playing; returns the loudest playback
    level seen on `audio-level` meanwhile (dBFS)."""
    loudest = -200.0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        level = element(driver, "audio-level").get_attribute("data-level")
        loudest = max(loudest, float(level or "-200"))
        state = element(driver, "status").get_attribute("data-state")
        assert state != "error", element(driver, "status").text
        if expected.lower() in element(driver, "answer").text.lower() and state == "idle":
            return loudest
        time.sleep(0.05)
    raise AssertionError(f"no finished answer containing {expected!r}: {element(driver, 'answer').text!r}")


def _shown(driver: webdriver.Chrome) -> str:
    return "the transcript; the page shows " + repr(
        {name: element(driver, name).text for name in ("status", "transcript", "answer", "error")}
    )


def test_lists_chat_models_and_voices(page: webdriver.Chrome) -> None:
    models = [o.text for o in Select(element(page, "model")).options]
    assert "fake-chat" in models and "gpt-4o-audio-preview" in models
    assert "whisper-1" not in models  # speech models are not chat models
    voices = [o.text for o in Select(element(page, "voice")).options]
    assert {"alloy", "slt"} <= set(voices)
    assert float(element(page, "audio-level").get_attribute("data-level") or "0") <= -90
    assert not element(page, "api-key").is_displayed()  # no keys configured


def test_typed_turn_streams_text_and_plays_audio(page: webdriver.Chrome) -> None:
    Select(element(page, "voice")).select_by_visible_text("alloy")
    element(page, "text-input").send_keys("hello from the browser")
    element(page, "send").click()
    loudest = _answer_with_audio(page, "You said: hello from the browser")
    assert loudest > AUDIBLE_DB
    assert element(page, "transcript").text == "hello from the browser"
    _screenshot(page, "playground-typed")
    # the level falls back to silence once the answer has played
    wait_for(
        lambda: float(element(page, "audio-level").get_attribute("data-level") or "0") < -90, 5, "silence"
    )


def test_spoken_turn_is_recognised_answered_and_played(page: webdriver.Chrome) -> None:
    element(page, "record").click()
    wait_for(lambda: element(page, "status").get_attribute("data-state") == "recording", 10, "recording")
    time.sleep(3.5)  # the fake microphone says the question (about 2 s), then is silent
    element(page, "record").click()
    wait_for(lambda: "capital" in element(page, "transcript").text.lower(), 60, lambda: _shown(page))
    assert "france" in element(page, "transcript").text.lower()
    loudest = _answer_with_audio(page, "capital of France")
    assert loudest > AUDIBLE_DB
    # the echoing model read the spoken question as if typed: the words, no audio label (docs/audio-input.md)
    assert "[audio" not in element(page, "answer").text
    _screenshot(page, "playground-spoken")


def test_speaking_stops_the_answer(page: webdriver.Chrome) -> None:
    """With barge-in on, the microphone is heard while the answer plays: the fake microphone's question
    (it loops every 8 s; the answer lasts longer) stops the playback."""
    element(page, "barge-in").click()
    long_message = " ".join(["please read this long sentence aloud to me"] * 4)
    element(page, "text-input").send_keys(long_message, Keys.ENTER)
    status = element(page, "status")
    wait_for(lambda: status.get_attribute("data-state") == "playing", 60, lambda: status.text)
    wait_for(lambda: status.get_attribute("data-state") == "interrupted", 20, lambda: status.text)
    level = element(page, "audio-level")
    wait_for(lambda: float(level.get_attribute("data-level") or "0") < -90, 2, "silence afterwards")
    assert float(element(page, "barge-in").get_attribute("data-mic-level") or "-100") > -35  # it heard speech
    element(page, "barge-in").click()


def test_recording_stops_the_answer(page: webdriver.Chrome) -> None:
    long_message = " ".join(["please read this long sentence aloud to me"] * 4)
    element(page, "text-input").send_keys(long_message, Keys.ENTER)
    status, level = element(page, "status"), element(page, "audio-level")
    wait_for(lambda: float(level.get_attribute("data-level") or "-100") > AUDIBLE_DB, 60, lambda: status.text)
    element(page, "record").click()
    wait_for(lambda: status.get_attribute("data-state") == "recording", 10, lambda: status.text)
    wait_for(lambda: float(level.get_attribute("data-level") or "0") < -90, 2, "silence once recording")
    time.sleep(3.5)  # the question is said
    element(page, "record").click()
    wait_for(lambda: "capital" in element(page, "transcript").text.lower(), 60, lambda: _shown(page))


def test_api_errors_are_shown(page: webdriver.Chrome) -> None:
    page.find_element("css selector", "details").click()
    element(page, "json-schema").send_keys('{"type": "string", "format": "uri"}')
    element(page, "text-input").send_keys("a number please", Keys.ENTER)
    error = wait_for(lambda: element(page, "error").text, 30, "the error")
    assert "response_format.json_schema.schema" in error
    assert element(page, "status").get_attribute("data-state") == "error"
    element(page, "json-schema").clear()
    # Chromium logs the refused request itself as an error: that one, and nothing else
    logged = [e["message"] for e in console_errors(page)]
    assert len(logged) == 1 and "/v1/chat/completions" in logged[0] and "400" in logged[0], logged


def test_asks_for_the_api_key_and_keeps_it_in_the_page(browser: webdriver.Chrome) -> None:
    with serve_fake(api_keys=["sk-playground-test"]) as (url, _fake):
        browser.get(url + "/playground")
        status = element(browser, "status")
        wait_for(lambda: status.get_attribute("data-state") == "key", 30, "the request for a key")
        assert element(browser, "api-key").is_displayed()
        element(browser, "api-key").send_keys("sk-playground-test", Keys.TAB)
        wait_for(lambda: status.get_attribute("data-state") == "idle", 30, lambda: status.text)
        assert "fake-chat" in [o.text for o in Select(element(browser, "model")).options]
        stored = browser.execute_script(
            "return JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage),"
            " document.cookie]);"
        )
        assert "sk-playground" not in stored
        assert console_errors(browser) == []
