"""omnivox on a real two-node Ray cluster started here (docs/scaling.md): the ingress on the head, two
replicas of the chat stage (a fake model), the real Whisper tiny.en and a flite voice, each a deployment.
A subset of the SDK contract suite runs through it, with audio in and out; the client leaving stops the
remote generation; a replica killed mid-stream leaves the next request served.

The cluster (tests/support/ray_cluster.py) starts once for the module: nodes on 127.0.0.2 and
127.0.0.3 only, RAY_TMPDIR in a temporary folder, no dashboard, a capped object store, stopped by process
id. Ray is imported only by the fixture, so this module is collected without the extra."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import signal
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from omnivox.config import EMBEDDED_SPEECH_MODEL, LanguageModelSettings, Settings, SpeechModelSettings
from tests.api.test_chat_sdk import (
    test_completion_through_the_sdk,
    test_raw_completion_validates,
    test_raw_stream_chunks_validate_and_usage_chunk_comes_last,
    test_sdk_errors_carry_openai_fields,
    test_stream_concatenates_to_the_completion,
)
from tests.conftest import FAKE_ID, LIBRIVOX
from tests.support.openapi import validate
from tests.support.ray_cluster import free_port, omnivox_on_ray

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("fake_server")]

__all__ = [  # the SDK contract tests that run again here, through Ray
    "test_completion_through_the_sdk",
    "test_raw_completion_validates",
    "test_raw_stream_chunks_validate_and_usage_chunk_comes_last",
    "test_sdk_errors_carry_openai_fields",
    "test_stream_concatenates_to_the_completion",
]


def _settings(folder: Path) -> Settings:
    pin = {"num_cpus": 0}
    return Settings(
        host="127.0.0.1",
        port=free_port(),
        models=[LanguageModelSettings(id=FAKE_ID)],
        speech_models=[SpeechModelSettings()],
        synthesis={
            "store": str(folder / "audio.sqlite3"),
            "voices": [{"id": "slt", "backend": "flite", "source": "slt"}],
            "voice_map": {"alloy": "slt"},
        },
        self_check=False,
        shutdown_grace_seconds=5,
        ray={
            "ingress": {**pin, "resources": {"head_node": 0.01}},
            "chat": {**pin, "replicas": 2, "resources": {"worker_node": 0.01}, "max_ongoing_requests": 2},
            "speech": {**pin, "resources": {"worker_node": 0.01}},
            "voices": {**pin, "resources": {"head_node": 0.01}},
        },
    )


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[str, str]]:
    """(the proxy's base URL, the cluster's address), once for the module."""
    from omnivox.serving.catalog import Loaders
    from tests.support.ray_engines import fake_chat

    with omnivox_on_ray(_settings, Loaders(chat=fake_chat)) as both:
        yield both


@pytest.fixture
def ray_url(deployed: tuple[str, str]) -> str:
    return deployed[0]


@pytest.fixture
def fake_server(ray_url: str) -> tuple[str, None]:
    """What the imported SDK tests ask for: the server's URL (the fake lives in the replicas)."""
    return ray_url, None


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)


def test_models_list_names_every_stage(ray_url: str) -> None:
    raw = httpx.get(f"{ray_url}/v1/models").json()
    validate(raw, "ListModelsResponse")
    ids = {m["id"] for m in raw["data"]}
    assert {FAKE_ID, "gpt-4o-audio-preview", EMBEDDED_SPEECH_MODEL, "whisper-1"} <= ids


def test_audio_in_is_heard_on_the_speech_deployment(ray_url: str) -> None:
    clip = sorted(LIBRIVOX.glob("*.wav"))[4]
    completion = _client(ray_url).chat.completions.create(
        model="gpt-4o-audio-preview",
        temperature=0,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Transcribe:"},
                    {
                        "type": "input_audio",
                        "input_audio": {
                            "data": base64.b64encode(clip.read_bytes()).decode(),
                            "format": "wav",
                        },
                    },
                ],
            }
        ],
    )
    validate(completion.model_dump(mode="json", exclude_unset=True), "CreateChatCompletionResponse")
    said = str(completion.choices[0].message.content).lower()
    assert said.startswith("you said: transcribe:") and len(said.split()) > 6  # the words heard
    assert completion.usage and completion.usage.prompt_tokens_details
    assert completion.usage.prompt_tokens_details.audio_tokens


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def test_audio_out_is_spoken_on_the_voice_deployment(ray_url: str) -> None:
    client = _client(ray_url)
    completion = client.chat.completions.create(
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": "Say hello to everyone."}],
        temperature=0,
    )
    validate(completion.model_dump(mode="json", exclude_unset=True), "CreateChatCompletionResponse")
    audio = completion.choices[0].message.audio
    assert audio is not None and audio.transcript.startswith("You said")
    assert _wav_seconds(base64.b64decode(audio.data)) > 0.5
    speech = client.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello there.", response_format="wav"
    )
    assert _wav_seconds(speech.content) > 0.3


def test_streamed_audio_out(ray_url: str) -> None:
    stream = _client(ray_url).chat.completions.create(
        model="gpt-4o-audio-preview",
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
        messages=[{"role": "user", "content": "Tell me something."}],
        stream=True,
        temperature=0,
    )
    pcm = b""
    for chunk in stream:
        delta = chunk.choices[0].delta if chunk.choices else None
        audio = getattr(delta, "audio", None) if delta else None
        data = audio.get("data") if isinstance(audio, dict) else getattr(audio, "data", None)
        pcm += base64.b64decode(data) if data else b""
    assert len(pcm) > 24_000 * 2 * 0.3  # 24 kHz 16-bit: more than 0.3 s spoken


def _note(folder: Path, name: str, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while not (folder / name).exists():
        assert time.monotonic() < deadline, f"no {name}"
        time.sleep(0.05)
    return int((folder / name).read_text())


def _stream_forever(url: str) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(timeout=60)
    body = {
        "model": FAKE_ID,
        "messages": [{"role": "user", "content": "talk forever"}],
        "stream": True,
        "temperature": 0,  # sampled, the fake's endless "z" ends now and then on another token
    }
    response = client.send(client.build_request("POST", f"{url}/v1/chat/completions", json=body), stream=True)
    assert response.status_code == 200
    return client, response


def test_a_client_that_leaves_stops_the_remote_generation(ray_url: str) -> None:
    folder = Path(os.environ["OMNIVOX_RAY_TEST_DIR"])
    (folder / "endless-pid").unlink(missing_ok=True)
    client, response = _stream_forever(ray_url)
    lines = response.iter_lines()
    for _ in range(20):
        next(lines)
    pid = _note(folder, "endless-pid")
    response.close()
    client.close()
    time.sleep(1.5)  # the cancel crosses proxy, ingress and replica
    stopped_at = _note(folder, f"appends-{pid}")
    time.sleep(1.0)  # at 5 ms a token, 200 more tokens if it had not stopped
    assert _note(folder, f"appends-{pid}") - stopped_at <= 20


def test_a_replica_killed_mid_stream_leaves_the_next_request_served(ray_url: str) -> None:
    folder = Path(os.environ["OMNIVOX_RAY_TEST_DIR"])
    (folder / "endless-pid").unlink(missing_ok=True)
    client, response = _stream_forever(ray_url)
    lines = response.iter_lines()
    for _ in range(10):
        next(lines)
    os.kill(_note(folder, "endless-pid"), signal.SIGKILL)
    rest = list(lines)  # the stream ends: one error event, then [DONE]
    client.close()
    assert rest[-2:] == ["data: [DONE]", ""] or rest[-1] == "data: [DONE]"
    assert any('"error"' in line for line in rest)
    completion = _client(ray_url).chat.completions.create(
        model="gpt-audio", messages=[{"role": "user", "content": "still there?"}], temperature=0
    )
    assert completion.choices[0].message.content == "You said: still there?"


def test_every_replica_reports_metrics(ray_url: str) -> None:
    """Each node's metrics agent exports its replicas' omnivox counters, tagged with the replica."""
    from tests.support.ray_cluster import METRICS_PORTS

    deadline = time.monotonic() + 30
    replicas: set[str] = set()
    while time.monotonic() < deadline and len(replicas) < 3:
        for host, port in zip(("127.0.0.2", "127.0.0.3"), METRICS_PORTS, strict=True):
            with contextlib.suppress(httpx.HTTPError):
                text = httpx.get(f"http://{host}:{port}/metrics", timeout=5).text
                replicas |= {
                    line.split('replica="')[1].split('"')[0]
                    for line in text.splitlines()
                    if line.startswith("ray_omnivox_replica_requests_total{")
                }
        time.sleep(1)
    # both chat replicas served (the streams above), the recogniser, the voice family
    assert len(replicas) >= 3, replicas


def test_deleting_the_application_lets_a_running_stream_finish(ray_url: str) -> None:
    """What SIGTERM to `omnivox serve --ray` does (serve.delete): the running request gets
    `shutdown_grace_seconds` to finish; afterwards nothing is served. Runs last: it removes the app."""
    import threading

    from ray import serve

    body = {
        "model": FAKE_ID,
        "messages": [{"role": "user", "content": "talk forever"}],
        "stream": True,
        "max_tokens": 300,  # 1.5 s at 5 ms a token
        "temperature": 0,
    }
    with httpx.stream("POST", f"{ray_url}/v1/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        next(lines)
        deleting = threading.Thread(target=serve.delete, args=("omnivox",))
        deleting.start()
        rest = [line for line in lines if line]
    deleting.join(timeout=60)
    assert rest[-1] == "data: [DONE]"
    assert '"finish_reason":"length"' in rest[-2]
    assert sum('"content":"z"' in line for line in rest) == 300  # all of it
    assert httpx.get(f"{ray_url}/v1/models").status_code != 200


def test_omnivox_serve_ray_deploys_and_sigterm_deletes(deployed: tuple[str, str], tmp_path: Path) -> None:
    """The command itself, as a process, on the cluster (after the test above removed the app): its
    model is an upstream that cannot be reached, so the replica's 502 comes back through Ray as such.
    Serve's proxy keeps the address it started with."""
    url, address = deployed
    config = tmp_path / "omnivox.toml"
    config.write_text(
        "self_check = false\nspeech_models = []\n[synthesis]\nvoices = []\nvoice_map = {}\n"
        f'store = "{tmp_path / "audio.sqlite3"}"\n'
        '[[models]]\nid = "far"\nbackend = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'upstream_model = "x"\ncontext_window = 2048\nconnect_timeout = 2\n'
        "[ray.ingress]\nnum_cpus = 0\n[ray.chat]\nnum_cpus = 0\n"
    )
    command = [sys.executable, "-m", "omnivox", "serve", "--ray", address, "--config", str(config)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/v1/models", timeout=5).status_code == 200:
                    break
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
        assert next(m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]) == "far"
        with pytest.raises(openai.APIStatusError) as failed:
            _client(url).chat.completions.create(model="far", messages=[{"role": "user", "content": "hi"}])
        assert failed.value.status_code == 502 and failed.value.code == "upstream_error"
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        assert code == 0, process.stderr.read().decode()[-3000:] if process.stderr else code
        assert httpx.get(f"{url}/v1/models").status_code != 200
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
