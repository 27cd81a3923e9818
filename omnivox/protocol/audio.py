"""Wire types of /v1/audio/transcriptions and /v1/audio/translations."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]


class TranscriptionForm(BaseModel):
    """The multipart fields besides `file` (strings on the wire, converted here)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    language: str | None = None
    prompt: str | None = None
    response_format: ResponseFormat = "json"
    temperature: float | None = Field(None, ge=0, le=1)
    timestamp_granularities: list[Literal["word", "segment"]] = Field(default_factory=list)
    stream: bool = False
    include: list[str] = Field(default_factory=list)
    chunking_strategy: str | None = None


class UsageDuration(BaseModel):
    type: Literal["duration"] = "duration"
    seconds: float


class WordOut(BaseModel):
    word: str
    start: float
    end: float


class SegmentOut(BaseModel):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class TranscriptionJson(BaseModel):
    text: str
    usage: UsageDuration


class TranscriptionVerboseJson(BaseModel):
    task: Literal["transcribe", "translate"]
    language: str
    duration: float
    text: str
    segments: list[SegmentOut] | None = None
    words: list[WordOut] | None = None
    usage: UsageDuration


class TextDelta(BaseModel):
    type: Literal["transcript.text.delta"]
    delta: str


class TextDone(BaseModel):
    type: Literal["transcript.text.done"]
    text: str
