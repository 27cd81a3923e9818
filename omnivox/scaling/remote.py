"""The runtime contracts implemented over Ray Serve deployments: what the ingress's catalog holds under
`omnivox serve --ray`. The services above see the same ChatModel, SpeechRecognizer and SpeechSynthesizer
as in one process; the work runs in a replica of the stage's deployment (omnivox.scaling.stages).

- Chat: `prompt` is one remote call; `generate` admits on the ingress (its bounded queue, 503 at once),
  then streams batches of events from the replica; `ready()` waits for the first batch, so Serve's own
  back-pressure (503) and the replica's refusals arrive before the status line. Closing the stream
  cancels the remote generator, and the replica's generation stops at its next token.
- Recognition and voices are blocking calls made on the ingress's worker threads, one per request that the
  deployment can take at once (its replicas x `max_ongoing_requests`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any, NoReturn, cast

from ray import exceptions as ray_errors
from ray.serve import exceptions as serve_errors
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from omnivox.audio.pcm import Audio
from omnivox.errors import ModelFailure, OmnivoxError, ServerOverloaded
from omnivox.runtimes.chat_model import Conversation, GenerationSpec, Prompt, ServingInfo
from omnivox.runtimes.events import Event, TextDelta, UsageReport
from omnivox.runtimes.speech import Recognition, SpeechModelInfo, Task
from omnivox.runtimes.synthesis import VoiceInfo
from omnivox.runtimes.worker import ModelWorker, Ticket


def raise_mapped(exc: BaseException) -> NoReturn:
    """A Ray failure as omnivox's error: the replica's own OmnivoxError as it was raised there, Serve's
    back-pressure and a replica that went away as 503 (retry), anything else as 500."""
    if isinstance(exc, ray_errors.RayTaskError) and isinstance(exc.cause, OmnivoxError):
        raise exc.cause from None
    if isinstance(exc, OmnivoxError):
        raise exc
    if isinstance(exc, serve_errors.BackPressureError):
        raise ServerOverloaded("The model is busy with other requests; retry shortly.") from exc
    if isinstance(exc, serve_errors.DeploymentUnavailableError | ray_errors.RayActorError):
        raise ServerOverloaded("The model's replica is not available; retry shortly.") from exc
    cause = exc.cause if isinstance(exc, ray_errors.RayTaskError) else exc
    raise ModelFailure(f"The model's replica failed: {type(cause).__name__}: {cause}") from exc


def portable(spec: GenerationSpec) -> GenerationSpec:
    """The spec without its usage callback (a closure over the ingress's state): the ingress charges."""
    return dataclasses.replace(spec, on_usage=None)


class RemoteEventStream:
    """A generation running in a chat replica; its batches flattened back into events."""

    def __init__(
        self, response: DeploymentResponseGenerator[Any], spec: GenerationSpec, prompt: Prompt
    ) -> None:
        self._response = response
        self._spec = spec
        self._prompt_tokens = prompt.tokens or 0
        self._first: list[Event] | None = None
        self._deltas = 0
        self._charged = False
        self._ticket: Ticket | None = None

    def hold(self, ticket: Ticket) -> None:
        self._ticket = ticket

    async def _next(self) -> list[Event] | None:
        try:
            batch: list[Event] = await self._response.__anext__()
        except StopAsyncIteration:
            return None
        except (Exception, ray_errors.RayError) as exc:
            raise_mapped(exc)
        return batch

    async def ready(self) -> None:
        if self._first is None:
            self._first = await self._next() or []

    async def __aiter__(self) -> AsyncIterator[Event]:
        try:
            await self.ready()
            batch = self._first
            while batch:
                for event in batch:
                    if isinstance(event, TextDelta):
                        self._deltas += 1
                    elif isinstance(event, UsageReport):
                        self._charge(event)
                    yield event
                batch = await self._next()
        finally:
            self.cancel()

    def _charge(self, report: UsageReport) -> None:
        if not self._charged and self._spec.on_usage is not None:
            self._charged = True
            self._spec.on_usage(report)

    def cancel(self) -> None:
        """Stop the remote generation (idempotent). A stream cut short after it started is charged its
        prompt and one token per text delta received (the replica's exact count stays there); one refused
        before its first event, nothing."""
        self._response.cancel()  # type: ignore[no-untyped-call]
        if self._first is not None:
            self._charge(UsageReport(self._prompt_tokens, self._deltas, 0))
        if self._ticket is not None:
            self._ticket.release()


class RemoteChatModel:
    """A ChatModel whose generation runs in a Serve deployment (omnivox.scaling.stages.ChatStage)."""

    def __init__(self, handle: DeploymentHandle[Any], info: ServingInfo, worker: ModelWorker) -> None:
        self._handle = handle
        self._info = info
        self._worker = worker

    @property
    def info(self) -> ServingInfo:
        return self._info

    @property
    def worker(self) -> ModelWorker:
        return self._worker

    async def prompt(self, conversation: Conversation, spec: GenerationSpec) -> Prompt:
        try:
            prompt: Prompt = await self._handle.prompt.remote(conversation, portable(spec))
        except (Exception, ray_errors.RayError) as exc:
            raise_mapped(exc)
        return prompt

    def generate(self, prompt: Prompt, spec: GenerationSpec) -> RemoteEventStream:
        ticket = self._worker.admit()
        response = cast(
            DeploymentResponseGenerator[Any],
            self._handle.options(stream=True).generate.remote(prompt, portable(spec)),
        )
        stream = RemoteEventStream(response, spec, prompt)
        stream.hold(ticket)
        return stream

    def prefill(self, conversation: Conversation) -> None:
        """Nothing ahead of the generation: Serve may route it to any replica, so a head evaluated on one
        would help only by chance (each replica's prompt cache still finds a prefix it saw)."""

    def close(self) -> None:
        self._worker.shutdown()


class RemoteRecognizer:
    """A SpeechRecognizer in a Serve deployment (stages.SpeechStage): the whole transcript comes back
    in one message, its segments then iterated here."""

    def __init__(self, handle: DeploymentHandle[Any], info: SpeechModelInfo) -> None:
        self._handle = handle
        self._info = info

    @property
    def info(self) -> SpeechModelInfo:
        return self._info

    def recognize(
        self,
        audio: Audio,
        *,
        task: Task = "transcribe",
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        word_timestamps: bool = True,
        quick: bool = False,
    ) -> Recognition:
        options = {
            "task": task,
            "language": language,
            "prompt": prompt,
            "temperature": temperature,
            "word_timestamps": word_timestamps,
            "quick": quick,
        }
        try:
            transcript = self._handle.recognize.remote(audio, options).result()
        except (Exception, ray_errors.RayError) as exc:
            raise_mapped(exc)
        return Recognition(
            transcript.language,
            transcript.language_probability,
            transcript.duration,
            transcript.speech_duration,
            iter(transcript.segments),
        )

    def close(self) -> None:
        """The replicas own the model."""


class RemoteSynthesizer:
    """A voice in a Serve deployment of its family (stages.VoiceStage): chunks stream back as spoken."""

    def __init__(self, handle: DeploymentHandle[Any], voice: str, info: VoiceInfo) -> None:
        self._handle = handle
        self._voice = voice
        self._info = info

    @property
    def info(self) -> VoiceInfo:
        return self._info

    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[Audio]:
        response = cast(
            DeploymentResponseGenerator[Audio],
            self._handle.options(stream=True).synthesize.remote(self._voice, text, speed),
        )
        try:
            yield from response
        except (Exception, ray_errors.RayError) as exc:
            raise_mapped(exc)
        finally:
            response.cancel()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """The replicas own the voice."""
