"""Wire types of /v1/chat/completions: the one source of truth for what we accept and send.

Request types are strict (no silent coercion of `"0.5"` to 0.5) and forbid unknown fields, as OpenAI does.
Message and content-part types are flat (one model per kind, `role`/`type` a literal) so that a validation
error's location maps one-to-one to OpenAI's parameter path (`messages[2].content[1].text`); the rules that
depend on the role or part type are checked in omnivox.chat.plan.

Response types are dumped with `exclude_unset=True`: the response builder sets exactly the fields OpenAI
sends, `None` included where OpenAI sends `null`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class InputAudio(_Strict):
    data: str
    format: str


class ContentPart(_Strict):
    type: Literal["text", "input_audio", "image_url", "file", "refusal"]
    text: str | None = None
    input_audio: InputAudio | None = None
    image_url: dict[str, Any] | None = None
    file: dict[str, Any] | None = None
    refusal: str | None = None


class AudioReference(_Strict):
    id: str


AudioFormat = Literal["wav", "aac", "mp3", "flac", "opus", "pcm16"]


class AudioOutput(_Strict):
    voice: str | dict[str, Any]
    format: AudioFormat


class ChatMessage(_Strict):
    role: Role
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    audio: AudioReference | None = None
    refusal: str | None = None
    function_call: dict[str, Any] | None = None


class StreamOptions(_Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class ChatCompletionRequest(_Strict):
    """CreateChatCompletionRequest. Ranges are OpenAI's; a value outside is a 400 naming the field."""

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: int | None = Field(None, ge=1, le=128)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    #: Not OpenAI's: the flag providers such as OpenRouter list. true (default): a `response_format`
    #: schema is enforced by grammar; false: it is only described to the model, in the prompt.
    structured_outputs: bool | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    modalities: list[str] | None = None
    audio: AudioOutput | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    moderation: dict[str, Any] | None = None
    # Accepted with no effect on the answer (documented in docs/api.md).
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    safety_identifier: str | None = None


# --- responses ---------------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptTokensDetails(_Out):
    cached_tokens: int = 0
    audio_tokens: int = 0


class CompletionTokensDetails(_Out):
    reasoning_tokens: int = 0
    audio_tokens: int = 0
    text_tokens: int = 0
    accepted_prediction_tokens: int = 0
    rejected_prediction_tokens: int = 0


class Usage(_Out):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails


class TopLogprob(_Out):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(_Out):
    token: str
    logprob: float
    bytes: list[int] | None
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(_Out):
    content: list[TokenLogprob] | None
    refusal: list[TokenLogprob] | None


class MessageAudio(_Out):
    id: str
    data: str  # base64 of the whole answer in the requested format
    expires_at: int
    transcript: str


class FunctionCall(_Out):
    name: str
    arguments: str  # JSON text


class MessageToolCall(_Out):
    id: str
    type: Literal["function"]
    function: FunctionCall


class ResponseMessage(_Out):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None
    annotations: list[dict[str, Any]]
    audio: MessageAudio | None = None
    tool_calls: list[MessageToolCall] | None = None


class Choice(_Out):
    index: int
    message: ResponseMessage
    logprobs: ChoiceLogprobs | None
    finish_reason: FinishReason


class ChatCompletion(_Out):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    service_tier: str
    system_fingerprint: str


class DeltaAudio(_Out):
    """A piece of a streamed spoken answer: the id first, then transcript and pcm16 data pieces, then
    `expires_at` last (only the fields set are sent)."""

    id: str | None = None
    transcript: str | None = None
    data: str | None = None
    expires_at: int | None = None


class DeltaFunction(_Out):
    name: str | None = None
    arguments: str | None = None


class DeltaToolCall(_Out):
    """A streamed tool call: the first delta of a call has its id, type and name; the next ones carry
    fragments of its arguments (only the fields set are sent)."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: DeltaFunction | None = None


class Delta(_Out):
    role: Literal["assistant"] | None = None
    content: str | None = None
    refusal: str | None = None
    audio: DeltaAudio | None = None
    tool_calls: list[DeltaToolCall] | None = None


class ChunkChoice(_Out):
    index: int
    delta: Delta
    logprobs: ChoiceLogprobs | None
    finish_reason: FinishReason | None


class ChatCompletionChunk(_Out):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    service_tier: str
    system_fingerprint: str
    usage: Usage | None = None
