"""The few calls `omnivox chat` makes, over the standard library's HTTP client: list the chat models,
transcribe a WAV, and stream a chat completion as its SSE events."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Seconds to wait for the server to answer at all (models on a busy CPU can take a while).
TIMEOUT = 600.0


class ApiError(Exception):
    """An error the API answered with (its OpenAI `error.message`), or why it could not be reached."""


@dataclass(frozen=True)
class Api:
    base_url: str  # e.g. http://127.0.0.1:8000 (the /v1 prefix is added here)
    api_key: str | None = None

    def _request(self, path: str, body: bytes | None = None, content_type: str | None = None) -> Any:
        headers = {"Accept": "application/json, text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if content_type:
            headers["Content-Type"] = content_type
        url = self.base_url.rstrip("/") + path
        request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT)
        except urllib.error.HTTPError as exc:
            raise ApiError(_message(exc.code, exc.read())) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None

    def chat_models(self) -> list[str]:
        """The chat model ids /v1/models lists (those that state a context window)."""
        with self._request("/v1/models") as response:
            cards = json.load(response)["data"]
        return [card["id"] for card in cards if "context_window" in card]

    def transcribe(self, wav: bytes, model: str = "whisper-1") -> str:
        boundary = uuid.uuid4().hex
        parts = [
            _part(boundary, 'name="model"', model.encode()),
            _part(boundary, 'name="file"; filename="speech.wav"', wav, "audio/wav"),
        ]
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        with self._request(
            "/v1/audio/transcriptions", body, f"multipart/form-data; boundary={boundary}"
        ) as response:
            text: str = json.load(response)["text"]
        return text.strip()

    def stream_chat(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The decoded `data:` events of a streamed chat completion, up to `[DONE]`; an error event
        raises ApiError."""
        payload = json.dumps({**body, "stream": True}).encode()
        with self._request("/v1/chat/completions", payload, "application/json") as response:
            for raw in response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line.startswith("data: "):
                    continue
                data = line.removeprefix("data: ")
                if data == "[DONE]":
                    return
                event: dict[str, Any] = json.loads(data)
                if "error" in event:
                    raise ApiError(_error_text(event["error"]))
                yield event


def _part(boundary: str, disposition: str, data: bytes, content_type: str | None = None) -> bytes:
    head = f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + b"\r\n" + data + b"\r\n"


def _error_text(error: dict[str, Any]) -> str:
    text = str(error.get("message") or "the request failed")
    if error.get("param"):
        text += f" (param: {error['param']})"
    return text


def _message(status: int, body: bytes) -> str:
    try:
        return f"{status}: {_error_text(json.loads(body)['error'])}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}"
