"""The chat-model contract: a conversation in, typed events out.

This is the seam every kind of language model plugs into. omnivox's own logits path (chat template +
tokenizer + omnivox's sampler + grammar, omnivox.backends.logits) is one implementation; an upstream
OpenAI-compatible server (vLLM, llama.cpp's server, Ollama: omnivox.backends.upstream) is another. Above
this contract nothing knows about tokens, templates or grammars:

- `prompt` turns the conversation (messages whose audio has been heard) and the generation spec into the
  backend's own prompt; everything the backend can refuse (a schema it cannot enforce, a template that
  cannot render) fails here, before the response starts.
- `generate` admits the request (503 at once when the model's queue is full) and starts it; its events
  arrive through the returned stream. Cancelling the stream (the client left) stops the work: the logits
  backend within one token, the upstream backend by closing its HTTP request.
- `info.capabilities` says which OpenAI parameters the model honours; the plan refuses the others with a
  400 that names them (omnivox.chat.plan).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from omnivox.audio.pcm import Audio
from omnivox.runtimes.events import Event, UsageReport
from omnivox.runtimes.worker import ModelWorker
from omnivox.sampling.sampler import SamplingParams


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Which request features a model honours. A feature it lacks is refused (400 naming the parameter),
    never ignored. `hears_audio` / `speaks_audio` choose the hearing and speaking strategies: a model that
    hears takes the audio itself instead of a transcript; one that speaks produces its own audio instead
    of omnivox's voices."""

    logit_bias: bool = True
    logprobs: bool = True
    seed: bool = True
    n: bool = True  # more than one choice per request
    json_schema: bool = True  # response_format json_schema / json_object
    tools: bool = True
    tool_choice: bool = True  # `required` or a named function (`auto` is what a model does anyway)
    hears_audio: bool = False
    speaks_audio: bool = False


@dataclass(frozen=True, slots=True)
class ServingInfo:
    """What serving needs to know about a chat model, whatever its kind."""

    context_window: int | None  # tokens (prompt + completion); None: not known (an upstream that says not)
    fingerprint: str  # system_fingerprint
    created: int  # unix time, for /v1/models
    capabilities: Capabilities = field(default_factory=Capabilities)
    vocab_size: int | None = None  # `logit_bias` keys are checked against it when known


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: Mapping[str, Any]  # JSON schema of the arguments


@dataclass(frozen=True, slots=True)
class JsonSchema:
    """The output must be JSON that validates against `schema` (None: any JSON object). `enforced`
    False (`structured_outputs: false`): the schema is only asked for in the prompt (`instructions`)."""

    schema: Mapping[str, Any] | None
    name: str = "response"
    strict: bool | None = None
    param: str = "response_format"  # the request parameter that asked for it, for error messages
    enforced: bool = True

    def instructions(self) -> str:
        """How the prompt asks for the output when it is not enforced."""
        if self.schema is None:
            return "Answer with a JSON object only."
        schema = json.dumps(self.schema)
        return f"Answer with JSON only, a value that validates against this JSON schema: {schema}"


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """The model may (`auto`) or must (`required`) call one of `tools`; `function` names the one function
    it must call when the request named it (then `tools` holds that function only). `answer`: what an
    answer that calls nothing must follow (a `response_format` given with the tools; None: free text)."""

    tools: tuple[Tool, ...]
    mode: Literal["auto", "required"]
    parallel: bool
    function: str | None = None
    answer: JsonSchema | None = None


#: What the output must follow, backend-neutral: each backend compiles it its own way (an llguidance grammar
#: for the logits path, `response_format` / `tools` passed on by the upstream one).
OutputConstraint = JsonSchema | ToolChoice


@dataclass(frozen=True, slots=True)
class GenerationSpec:
    sampling: SamplingParams
    max_tokens: int | None  # None: until the context window is full
    stop: tuple[str, ...]
    n: int = 1
    top_logprobs: int | None = None  # None: no logprobs; 0..20 alternatives per token
    constraint: OutputConstraint | None = None
    stream: bool = False  # the client reads the answer as it is generated
    voice: str | None = None  # a model that speaks: the voice asked for (None: a text answer)
    #: Called once when the generation ends, however it ends (finished, cancelled, failed), with what it
    #: used so far: a stream cut short is charged what was generated (on the model's worker, or the loop).
    on_usage: Callable[[UsageReport], None] | None = field(default=None, compare=False)
    #: Called with the name of a stage of the generation when it ends, for the request's timing (from the
    #: model's worker): `prompt_evaluation` once the prompt is evaluated, when the backend evaluates one.
    on_stage: Callable[[str], None] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Conversation:
    """The messages as OpenAI-style dicts (role, content text, tool fields). For a text model the audio
    is already heard: `audio_texts` are the transcript blocks that stand for it (counted as audio tokens).
    For a model that hears (`Capabilities.hears_audio`), the text holds a marker per part,
    `[audio input n]`, and `audio` the decoded audio (mono float32 with its rate)."""

    messages: Sequence[Mapping[str, Any]]
    audio_texts: Sequence[str] = ()
    audio: Sequence[Audio] = ()  # the input audio itself, part n at n - 1, for a model that hears


@dataclass(frozen=True, slots=True)
class Prompt:
    """A backend's prompt; each backend subclasses it and gets only its own prompts back."""

    tokens: int | None  # prompt tokens when known before generating (context check); None: not known
    audio_tokens: int = 0  # of those, the tokens that stand for audio input


class EventStream(Protocol):
    """A started generation. Iterate it once; `cancel` (idempotent, on the event loop) stops the work."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def ready(self) -> None:
        """Return once nothing but generation can fail any more (an upstream answered with its status);
        raise what stopped the start. A streamed answer waits for it before its status line is sent."""
        ...

    def cancel(self) -> None: ...


@runtime_checkable
class Holdable(Protocol):
    """An event stream whose generation can pause between two events: a model on this machine's cores
    (omnivox.runtimes.worker.JobStream). A realtime answer holds it while the voice speaks its first
    piece, so that the two do not share the cores at the moment the listener waits for the first audio
    (docs/realtime.md, "Latency"). A model elsewhere (upstream, Ray) is not held."""

    def hold(self) -> None:
        """Pause after the event being made (at most `worker.HOLD_LIMIT_S`); thread-safe."""
        ...

    def resume(self) -> None:
        """Go on (also when not held); thread-safe."""
        ...


def held_until_first(hold: Holdable | None, speak: Callable[[], Iterable[Audio]]) -> Iterator[Audio]:
    """The audio `speak()` gives, `hold` held from the moment it is first asked for (before `speak`
    runs) until its first chunk is there: what a voice speaking an answer's first piece does to the
    model writing the answer (None: nothing held)."""
    if hold is not None:
        hold.hold()
    try:
        for audio in speak():
            if hold is not None:
                hold.resume()
            yield audio
    finally:
        if hold is not None:
            hold.resume()


#: What stands for each audio part not heard yet in the conversation given to `ChatModel.prefill`.
UNHEARD = "\ufffc"


class ChatModel(Protocol):
    """A chat model served under an id. Implementations: LogitsChatModel, UpstreamChatModel."""

    @property
    def info(self) -> ServingInfo: ...

    @property
    def worker(self) -> ModelWorker:
        """Admission (a bounded number of requests, running + waiting) and, for a local runtime, the one
        thread that drives it."""
        ...

    async def prompt(self, conversation: Conversation, spec: GenerationSpec) -> Prompt:
        """The backend's prompt; a request the backend cannot honour raises InvalidRequest (400)."""
        ...

    def generate(self, prompt: Prompt, spec: GenerationSpec) -> EventStream:
        """Admit (ServerOverloaded at once when the queue is full) and start generating."""
        ...

    def prefill(self, conversation: Conversation) -> None:
        """While the request's audio is still being heard: prepare the head of its prompt, everything
        before the first `UNHEARD` in `conversation`, so that only the rest is left to evaluate (a local
        model evaluates it, or finds it in its prompt cache, on its worker, before the generation queues
        there). Called on the event loop; returns at once and never fails. Nothing to do: a no-op."""
        ...

    def close(self) -> None:
        """Stop what runs and free the model's resources."""
        ...
