"""Wire types of /v1/audio/speech."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]


class SpeechRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    model: str
    input: str = Field(min_length=1, max_length=4096)
    voice: str | dict[str, Any]
    instructions: str | None = Field(None, max_length=4096)
    response_format: SpeechFormat = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream_format: Literal["sse", "audio"] = "audio"


class SpeechUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class SpeechAudioDelta(BaseModel):
    type: Literal["speech.audio.delta"]
    audio: str  # base64 of the next bytes of the file


class SpeechAudioDone(BaseModel):
    type: Literal["speech.audio.done"]
    usage: SpeechUsage
