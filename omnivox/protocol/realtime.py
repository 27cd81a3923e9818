"""OpenAI Realtime API (GA dialect) wire types for what clients send: the session configuration and the
payloads of the client events. Unknown fields are refused (`extra="forbid"`), so a client that sends a
field omnivox does not know hears of it (`unknown_parameter`) instead of being silently ignored.

Server events are plain dicts built in omnivox.realtime.wire; the tests validate every one of them against
the openai SDK's own `RealtimeServerEvent` types."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AudioFormat(_Wire):
    """`audio/pcm` is 16-bit little-endian mono at 24 kHz; `audio/pcmu` / `audio/pcma` G.711 at 8 kHz."""

    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
    rate: Literal[24000] | None = None


class Transcription(_Wire):
    model: str | None = None  # a configured speech model's id hears the turns; any other: the default
    language: str | None = None  # the turns' language (checked by the session against Whisper's)
    prompt: str | None = None  # Whisper's initial prompt for each turn
    delay: Any = None  # accepted, not used
    keywords: Any = None
    languages: Any = None


class NoiseReduction(_Wire):
    type: Literal["near_field", "far_field"]
    strength: float | None = None


class ServerVad(_Wire):
    type: Literal["server_vad"]
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    prefix_padding_ms: int = Field(300, ge=0, le=10_000)
    silence_duration_ms: int = Field(200, ge=0, le=10_000)  # OpenAI's live default
    create_response: bool = True
    interrupt_response: bool = True
    idle_timeout_ms: int | None = Field(None, ge=5_000, le=30_000)


class SemanticVad(_Wire):
    type: Literal["semantic_vad"]
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    create_response: bool = True
    interrupt_response: bool = True


TurnDetection = Annotated[ServerVad | SemanticVad, Field(discriminator="type")]


def _server_vad() -> ServerVad:
    return ServerVad(type="server_vad")


class AudioInput(_Wire):
    format: AudioFormat = AudioFormat(type="audio/pcm", rate=24000)
    transcription: Transcription | None = None
    noise_reduction: NoiseReduction | None = None
    turn_detection: TurnDetection | None = Field(default_factory=_server_vad)


class AudioOutput(_Wire):
    format: AudioFormat = AudioFormat(type="audio/pcm", rate=24000)
    voice: str = "alloy"
    speed: float = Field(1.0, ge=0.25, le=1.5)


class SessionAudio(_Wire):
    input: AudioInput = Field(default_factory=AudioInput)
    output: AudioOutput = Field(default_factory=AudioOutput)


class FunctionTool(_Wire):
    """Realtime tools are flat: no `function` wrapper as in chat completions."""

    type: Literal["function"] = "function"
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None


class NamedFunction(_Wire):
    type: Literal["function"]
    name: str


ToolChoice = Literal["auto", "none", "required"] | NamedFunction
Modalities = Annotated[list[Literal["audio", "text"]], Field(min_length=1, max_length=1)]
MaxTokens = Annotated[int, Field(ge=1, le=4096)] | Literal["inf"]


class TokenLimits(_Wire):
    post_instructions: int | None = Field(None, ge=0)


class RetentionRatio(_Wire):
    type: Literal["retention_ratio"]
    retention_ratio: float = Field(ge=0.0, le=1.0)
    token_limits: TokenLimits | None = None


Truncation = Literal["auto", "disabled"] | RetentionRatio


class SessionConfig(_Wire):
    """The whole session (what `session.created` / `session.updated` echo). As an update, only the
    fields present change (`model_dump(exclude_unset=True)`); `type` is required on every update."""

    type: Literal["realtime"]
    model: str | None = None
    instructions: str = ""
    output_modalities: Modalities = Field(default_factory=lambda: list[Literal["audio", "text"]](["audio"]))
    audio: SessionAudio = Field(default_factory=SessionAudio)
    tools: list[FunctionTool] = Field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    max_output_tokens: MaxTokens = "inf"
    truncation: Truncation = "auto"  # how a conversation longer than the window is cut (realtime/window)
    tracing: Any = None  # accepted and echoed (openai-agents sends "auto"), nothing is traced
    prompt: Any = None
    include: list[str] | None = None
    parallel_tool_calls: bool | None = None
    reasoning: Any = None


class ResponseAudioOutput(_Wire):
    format: AudioFormat | None = None
    voice: str | None = None


class ResponseAudio(_Wire):
    output: ResponseAudioOutput | None = None


class ResponseParams(_Wire):
    """`response.create`'s `response`: what this one response overrides of the session."""

    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: ToolChoice | None = None
    output_modalities: Modalities | None = None
    audio: ResponseAudio | None = None
    max_output_tokens: MaxTokens | None = None
    metadata: dict[str, str] | None = None
    conversation: Literal["auto", "none"] | str | None = None
    input: list[dict[str, Any]] | None = None
    prompt: Any = None


class ContentPart(_Wire):
    type: Literal["input_text", "input_audio", "input_image", "output_text", "output_audio", "text", "audio"]
    text: str | None = None
    audio: str | None = None  # base64 in the session's input format
    transcript: str | None = None
    image_url: str | None = None
    detail: str | None = None


class Item(_Wire):
    """`conversation.item.create`'s `item`."""

    id: str | None = Field(None, max_length=64)
    type: Literal["message", "function_call", "function_call_output"]
    object: Literal["realtime.item"] | None = None
    status: Literal["completed", "incomplete", "in_progress"] | None = None
    role: Literal["user", "assistant", "system"] | None = None
    content: list[ContentPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
