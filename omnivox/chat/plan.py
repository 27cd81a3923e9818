"""Request -> ChatPlan: every check and every default, once, before any byte of the answer is sent.

The wire request (omnivox.protocol.chat) is converted here, and only here, into the frozen plan the
generation loop runs. Parameters of OpenAI's API that omnivox does not honour are refused with a 400 that
names them, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omnivox.chat.messages import NOT_FOR_THIS_MODEL, PlannedMessage, plan_messages
from omnivox.chat.structured import measure_constraint, response_constraint
from omnivox.chat.tools import plan_tools
from omnivox.config import RequestLimits
from omnivox.errors import InvalidRequest, UnsupportedParameter
from omnivox.protocol.chat import ChatCompletionRequest
from omnivox.runtimes.chat_model import Capabilities, JsonSchema, OutputConstraint, ToolChoice
from omnivox.sampling.sampler import SamplingParams
from omnivox.serving.catalog import ModelCatalog, ServedModel, ServedVoice

MAX_STOP_SEQUENCES = 4
DEFAULT_LIMITS = RequestLimits()


@dataclass(frozen=True, slots=True)
class SpeechPlan:
    """The answer is also spoken, encoded in `format`: by one of omnivox's voices (the speaking strategy of
    a text model), or, `voice` None, by the model itself (one that speaks), in the voice `requested`."""

    voice: ServedVoice | None
    format: str
    requested: str = ""


@dataclass(frozen=True, slots=True)
class ChatPlan:
    model: ServedModel
    model_name: str  # the id the client asked for, echoed in responses
    messages: tuple[PlannedMessage, ...]  # rendered by the chat template once audio is heard
    sampling: SamplingParams
    max_tokens: int | None  # the request's limit, else the model's default; None: until the window is full
    max_tokens_param: str | None  # which parameter set the limit, for error messages; None: the default
    stop: tuple[str, ...]
    n: int
    top_logprobs: int | None  # None: no logprobs
    stream: bool
    include_usage: bool
    speech: SpeechPlan | None  # None: text only
    constraint: OutputConstraint | None  # what the output must follow (a JSON schema, tool calls); None: free

    @property
    def tools(self) -> ToolChoice | None:
        """The tools the model may call (None: it may not)."""
        return self.constraint if isinstance(self.constraint, ToolChoice) else None


def build_plan(
    request: ChatCompletionRequest,
    catalog: ModelCatalog,
    *,
    max_choices: int,
    limits: RequestLimits = DEFAULT_LIMITS,
) -> ChatPlan:
    """Blocking (a schema's size is counted here): call it off the event loop."""
    model = catalog.resolve(request.model)
    _refuse_unsupported(request)
    max_tokens, max_param = _max_tokens(request, model.default_max_tokens)
    answer = response_constraint(request.response_format, request.structured_outputs is not False)
    constraint = _tools(request, answer) or answer
    measure_constraint(constraint, limits)
    _refuse_incapable(request, model)
    return ChatPlan(
        model=model,
        model_name=request.model,
        messages=plan_messages(request.messages),
        sampling=SamplingParams(
            temperature=_or(request.temperature, 1.0),
            top_p=_or(request.top_p, 1.0),
            seed=request.seed,
            frequency_penalty=_or(request.frequency_penalty, 0.0),
            presence_penalty=_or(request.presence_penalty, 0.0),
            logit_bias=_logit_bias(request.logit_bias, model.model.info.vocab_size),
        ),
        max_tokens=max_tokens,
        max_tokens_param=max_param,
        stop=_stop_sequences(request.stop),
        n=_choices(request.n, max_choices),
        top_logprobs=(request.top_logprobs or 0) if request.logprobs else None,
        stream=bool(request.stream),
        include_usage=_include_usage(request),
        speech=_speech(request, catalog, model.model.info.capabilities.speaks_audio),
        constraint=constraint,
    )


def _tools(request: ChatCompletionRequest, answer: JsonSchema | None) -> ToolChoice | None:
    parallel = request.parallel_tool_calls is not False
    return plan_tools(request.tools, request.tool_choice, parallel, answer)


def _speech(request: ChatCompletionRequest, catalog: ModelCatalog, speaks: bool) -> SpeechPlan | None:
    modalities = request.modalities or ["text"]
    for i, modality in enumerate(modalities):
        if modality not in ("text", "audio"):
            raise InvalidRequest(f"Unknown modality {modality!r}.", param=f"modalities[{i}]")
    if "audio" not in modalities:
        if request.audio is not None:
            raise InvalidRequest('`audio` requires `modalities` to include "audio".', param="audio")
        return None
    if request.audio is None:
        raise InvalidRequest(
            "Audio output requires the `audio` parameter (voice and format).",
            param="audio",
            code="missing_required_parameter",
        )
    if request.stream and request.audio.format != "pcm16":
        raise InvalidRequest("Streamed audio output must use format pcm16.", param="audio.format")
    requested = request.audio.voice
    if speaks:  # the model's own voice: omnivox's are not used
        name = requested if isinstance(requested, str) else str(requested.get("id", ""))
        return SpeechPlan(None, request.audio.format, name)
    voice = catalog.resolve_voice(requested, param="audio.voice")
    return SpeechPlan(voice, request.audio.format, voice.id)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _choices(n: int | None, max_choices: int) -> int:
    if n is not None and n > max_choices:
        raise InvalidRequest(f"`n` is at most {max_choices} on this server.", param="n")
    return n or 1


LOGIT_BIAS_LIMIT = 100.0


def _logit_bias(bias: dict[str, float] | None, vocab_size: int | None) -> tuple[tuple[int, float], ...]:
    """`{"token id": bias}` -> ((id, bias), ...); ids must exist in the model's vocabulary (when the
    vocabulary is known: an upstream model's is not)."""
    if not bias:
        return ()
    out = []
    for key, value in bias.items():
        if not (key.isascii() and key.isdigit()) or (vocab_size is not None and int(key) >= vocab_size):
            ids = "" if vocab_size is None else f", 0 to {vocab_size - 1}"
            raise InvalidRequest(
                f"Invalid key {key!r} in `logit_bias`: keys are token ids of this model{ids}.",
                param="logit_bias",
            )
        if not -LOGIT_BIAS_LIMIT <= value <= LOGIT_BIAS_LIMIT:
            raise InvalidRequest(
                f"Invalid value {value} for token {key} in `logit_bias`: biases range from -100 to 100.",
                param="logit_bias",
            )
        out.append((int(key), float(value)))
    return tuple(out)


def _max_tokens(request: ChatCompletionRequest, default: int | None) -> tuple[int | None, str | None]:
    """The completion limit and the parameter that set it; with neither parameter, the model's default
    (param None: a limit the client did not ask for is shortened to fit the window, never refused)."""
    if request.max_tokens is not None and request.max_completion_tokens is not None:
        raise InvalidRequest(
            "Give either `max_completion_tokens` or the deprecated `max_tokens`, not both.",
            param="max_tokens",
        )
    if request.max_tokens is not None:
        return request.max_tokens, "max_tokens"
    if request.max_completion_tokens is not None:
        return request.max_completion_tokens, "max_completion_tokens"
    return default, None


def _stop_sequences(stop: str | list[str] | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if len(stops) > MAX_STOP_SEQUENCES:
        raise InvalidRequest(f"`stop` takes at most {MAX_STOP_SEQUENCES} sequences.", param="stop")
    return tuple(s for s in stops if s)


def _include_usage(request: ChatCompletionRequest) -> bool:
    if request.stream_options is not None and not request.stream:
        raise InvalidRequest(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param="stream_options"
        )
    return bool(request.stream_options and request.stream_options.include_usage)


# --- what is refused ---------------------------------------------------------------------------------


def _refuse_unsupported(request: ChatCompletionRequest) -> None:
    """Refuse each parameter whose meaning omnivox cannot honour (yet), naming it."""
    for param, refused, why in _REFUSALS:
        if refused(request):
            raise UnsupportedParameter(f"Unsupported parameter: '{param}' {why}.", param=param)
    if request.top_logprobs is not None and not request.logprobs:
        raise InvalidRequest("`top_logprobs` requires `logprobs` to be true.", param="top_logprobs")


def _refuse_incapable(request: ChatCompletionRequest, model: ServedModel) -> None:
    """Refuse each parameter this model's backend cannot honour, naming it (the capabilities table)."""
    capabilities = model.model.info.capabilities
    for param, asked, capable in _CAPABILITIES:
        if asked(request) and not capable(capabilities):
            raise UnsupportedParameter(
                f"Unsupported parameter: '{param}' is not supported by the model `{model.id}`.", param=param
            )


_Check = Callable[[ChatCompletionRequest], bool]
_Capable = Callable[[Capabilities], bool]
_CAPABILITIES: tuple[tuple[str, _Check, _Capable], ...] = (
    ("logit_bias", lambda r: bool(r.logit_bias), lambda c: c.logit_bias),
    ("logprobs", lambda r: bool(r.logprobs), lambda c: c.logprobs),
    ("seed", lambda r: r.seed is not None, lambda c: c.seed),
    ("n", lambda r: (r.n or 1) > 1, lambda c: c.n),
    (
        "response_format",
        lambda r: _json_response(r) and r.structured_outputs is not False,  # false: asked in the prompt
        lambda c: c.json_schema,
    ),
    ("tools", lambda r: bool(r.tools) and r.tool_choice != "none", lambda c: c.tools),
    (
        "tool_choice",
        lambda r: bool(r.tools) and r.tool_choice not in (None, "auto", "none"),
        lambda c: c.tool_choice,
    ),
)


def _json_response(request: ChatCompletionRequest) -> bool:
    return request.response_format is not None and request.response_format.get("type") != "text"


_DEPRECATED = "is deprecated and not supported: use `tools` and `tool_choice`"
_REFUSALS: tuple[tuple[str, _Check, str], ...] = (
    ("functions", lambda r: r.functions is not None, _DEPRECATED),
    ("function_call", lambda r: r.function_call is not None, _DEPRECATED),
    ("prediction", lambda r: r.prediction is not None, NOT_FOR_THIS_MODEL),
    ("web_search_options", lambda r: r.web_search_options is not None, NOT_FOR_THIS_MODEL),
    ("reasoning_effort", lambda r: r.reasoning_effort is not None, NOT_FOR_THIS_MODEL),
    ("verbosity", lambda r: r.verbosity is not None, NOT_FOR_THIS_MODEL),
    ("moderation", lambda r: r.moderation is not None, NOT_FOR_THIS_MODEL),
)
