"""Transcription and translation, orchestrated: check the form, decode the file, recognise on the speech
model's worker, render the requested format. As for chat, everything the client can get wrong fails in
`prepare`, before any byte is sent."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import PurePath

import anyio.to_thread

from omnivox.audio.decode import FAMILIES, AudioLimits, FormatMismatch, InvalidAudio, decode
from omnivox.audio.pcm import Audio
from omnivox.config import AudioSettings
from omnivox.context import record_usage
from omnivox.errors import InvalidRequest, UnsupportedParameter
from omnivox.protocol.audio import TextDelta, TextDone, TranscriptionForm
from omnivox.runtimes.languages import check_language
from omnivox.runtimes.speech import Recognition, Segment, Task, Transcript
from omnivox.serving.catalog import ModelCatalog, ServedSpeechModel
from omnivox.telemetry import Telemetry
from omnivox.usage.counts import Usage, milliseconds

#: Formats OpenAI lists for uploads; anything else is refused by extension before decoding.
UPLOAD_FORMATS = ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm")


@dataclass(frozen=True, slots=True)
class PreparedTranscription:
    model: ServedSpeechModel
    audio: Audio
    form: TranscriptionForm
    task: Task


class TranscriptionService:
    def __init__(
        self, catalog: ModelCatalog, audio: AudioSettings, telemetry: Telemetry | None = None
    ) -> None:
        self._catalog = catalog
        self._telemetry = telemetry or Telemetry()
        self._limits = AudioLimits(max_seconds=audio.max_seconds_per_part, max_channels=audio.max_channels)

    async def prepare(
        self, form: TranscriptionForm, data: bytes, filename: str | None, task: Task
    ) -> PreparedTranscription:
        model = self._catalog.resolve_speech(form.model)
        _check_options(form, model, task)
        declared = _declared_format(filename)
        audio = await anyio.to_thread.run_sync(self._decode, data, declared)
        self._telemetry.heard(audio.duration)
        return PreparedTranscription(model, audio, form, task)

    def _decode(self, data: bytes, declared: str | None) -> Audio:
        try:
            return decode(data, declared, self._limits)
        except (FormatMismatch, InvalidAudio) as exc:
            raise InvalidRequest(str(exc), param="file") from None

    @staticmethod
    def _recognize(prepared: PreparedTranscription) -> Recognition:
        """On the speech model's worker. The request is charged the whole audio once recognition starts."""
        form = prepared.form
        heard = Usage(requests=1, audio_ms_in=milliseconds(prepared.audio.duration))
        record_usage("audio_transcriptions", form.model, heard)
        return prepared.model.runtime.recognize(
            prepared.audio,
            task=prepared.task,
            language=form.language,
            prompt=form.prompt,
            temperature=form.temperature,
            word_timestamps="word" in form.timestamp_granularities,
        )

    def _segments(self, prepared: PreparedTranscription, cancelled: threading.Event) -> Iterator[Segment]:
        for segment in self._recognize(prepared).segments:
            if cancelled.is_set():
                return
            yield segment

    async def transcribe(self, prepared: PreparedTranscription) -> Transcript:
        ticket = prepared.model.worker.admit()
        return await prepared.model.worker.run(lambda: self._recognize(prepared).complete(), ticket)

    def stream(self, prepared: PreparedTranscription) -> AsyncIterator[TextDelta | TextDone]:
        """Admits and starts now (errors raise here); a delta per decoded segment, then the whole text."""
        worker = prepared.model.worker
        segments = worker.submit(lambda cancelled: self._segments(prepared, cancelled), worker.admit())

        async def events() -> AsyncIterator[TextDelta | TextDone]:
            texts: list[str] = []
            async for segment in segments:
                delta = segment.text if texts else segment.text.lstrip()
                texts.append(delta)
                yield TextDelta(type="transcript.text.delta", delta=delta)
            yield TextDone(type="transcript.text.done", text="".join(texts).strip())

        return events()


def _declared_format(filename: str | None) -> str | None:
    """The format the file's name claims (its extension), checked against the bytes when decoding."""
    suffix = PurePath(filename or "").suffix.lower().lstrip(".")
    if not suffix or suffix not in FAMILIES:
        return None
    if suffix not in UPLOAD_FORMATS:
        raise InvalidRequest(
            f"Invalid file format {suffix!r}. Supported formats: {', '.join(UPLOAD_FORMATS)}.", param="file"
        )
    return suffix


def _check_options(form: TranscriptionForm, model: ServedSpeechModel, task: Task) -> None:
    multilingual = model.runtime.info.multilingual
    if task == "translate" and not multilingual:
        raise InvalidRequest(
            f"The speech model `{model.id}` is English-only and cannot translate; configure a multilingual "
            'model (e.g. source = "embedded:whisper-base").',
            param="model",
        )
    check_language(form.language, param="language")
    if form.language not in (None, "en") and not multilingual:
        raise InvalidRequest(f"The speech model `{model.id}` only understands English.", param="language")
    if form.timestamp_granularities and form.response_format != "verbose_json":
        raise InvalidRequest(
            "`timestamp_granularities[]` requires `response_format` verbose_json.",
            param="timestamp_granularities",
        )
    if form.stream and form.response_format not in ("json", "text"):
        raise InvalidRequest("Streaming gives text events: use response_format json or text.", param="stream")
    if form.include:
        raise UnsupportedParameter("`include[]` (logprobs) is not supported by this model.", param="include")
    if form.chunking_strategy not in (None, "auto"):
        raise UnsupportedParameter(
            "Only `chunking_strategy: auto` is supported (voice-activity detection always runs).",
            param="chunking_strategy",
        )
