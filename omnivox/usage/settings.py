"""Settings of usage accounting (`[usage]`, part of the one settings tree in omnivox.config): where counts
are kept, how often they are written, and the prices they are costed at."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

_FREE = Decimal(0)


class ModelPrice(BaseModel):
    """What one model costs, in US dollars. Tokens per million; a rate left unset falls back to the more
    general one (cached audio input -> audio input -> input; cached input -> input; audio output ->
    output)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Decimal = Field(_FREE, ge=0, description="Text input tokens, per million.")
    cached_input: Decimal | None = Field(
        None, ge=0, description="Cached input tokens, per million; None: the input price."
    )
    audio_input: Decimal | None = Field(
        None, ge=0, description="Audio input tokens, per million; None: the input price."
    )
    cached_audio_input: Decimal | None = Field(
        None, ge=0, description="Cached audio input tokens, per million; None: the audio input price."
    )
    output: Decimal = Field(_FREE, ge=0, description="Text output tokens, per million.")
    audio_output: Decimal | None = Field(
        None, ge=0, description="Audio output tokens, per million; None: the output price."
    )
    transcription_minute: Decimal = Field(
        _FREE, ge=0, description="Transcriptions and translations: per minute of audio heard."
    )
    speech_characters: Decimal = Field(
        _FREE, ge=0, description="/v1/audio/speech: per million characters of input."
    )


#: The seed's price of the service ($2.50 / $10.00 per million text tokens) for OpenAI's audio chat ids,
#: and OpenAI's list prices of whisper-1 and tts-1 / tts-1-hd.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    **{
        chat: ModelPrice(input=Decimal("2.50"), output=Decimal("10.00"))
        for chat in ("gpt-4o-audio-preview", "gpt-4o-mini-audio-preview", "gpt-audio")
    },
    "whisper-1": ModelPrice(transcription_minute=Decimal("0.006")),
    "tts-1": ModelPrice(speech_characters=Decimal("15.00")),
    "tts-1-hd": ModelPrice(speech_characters=Decimal("30.00")),
}


class UsageSettings(BaseModel):
    """Usage per API key and model: kept in SQLite, reported by /v1/organization/* and `omnivox usage`."""

    store: Path | None = Field(
        None,
        description="SQLite file of usage counts; None: `usage.sqlite3` beside the audio store "
        "(`synthesis.store`).",
    )
    flush_seconds: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="How often counts held in memory are written to the store (also at shutdown and before "
        "every usage query).",
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description="Model id (as clients send it) -> prices, merged over the defaults; a model with no "
        "price costs nothing.",
    )

    def store_path(self, audio_store: Path) -> Path:
        if self.store is not None:
            return self.store
        return audio_store if str(audio_store) == ":memory:" else audio_store.with_name("usage.sqlite3")

    def price_table(self) -> dict[str, ModelPrice]:
        return {**DEFAULT_PRICES, **self.prices}
