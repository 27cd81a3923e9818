"""The one settings tree. Sources, strongest first: explicit arguments (CLI flags), environment variables
(`OMNIVOX_PORT`, `OMNIVOX_MODELS='[...]'` as JSON, nested with `__`), a TOML config file, the defaults.

The defaults alone serve the embedded models: no configuration is needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, SecretStr, Tag, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from omnivox.usage.settings import UsageSettings

#: Model ids that OpenAI clients send for the audio chat model; all resolve to the default chat model.
OPENAI_CHAT_ALIASES: tuple[str, ...] = (
    "gpt-4o-audio-preview",
    "gpt-4o-mini-audio-preview",
    "gpt-audio",
)

#: Model ids that OpenAI clients send for speech-to-text; all resolve to the default speech model.
OPENAI_SPEECH_ALIASES: tuple[str, ...] = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")

#: Model ids that OpenAI clients send for text-to-speech; they all speak with the configured voices.
OPENAI_TTS_ALIASES: tuple[str, ...] = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
#: OpenAI's built-in voice names; each maps to a configured voice (`synthesis.voice_map`).
OPENAI_VOICES: tuple[str, ...] = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)

EMBEDDED_CHAT_MODEL = "smollm2-135m-instruct"
EMBEDDED_SPEECH_MODEL = "whisper-base"


class LanguageModelSettings(BaseModel):
    """One language model run by llama.cpp in this process (`backend = "llama.cpp"`, the default), served
    under `id` (and `aliases`)."""

    id: str = Field(EMBEDDED_CHAT_MODEL, description="The model id clients send and /v1/models lists.")
    source: str = Field(
        f"embedded:{EMBEDDED_CHAT_MODEL}",
        description="Where the weights are: `embedded:<name>` for a model installed from a registry "
        "package, or the path of a local GGUF file.",
    )
    backend: Literal["llama.cpp"] = Field("llama.cpp", description="Which kind of model this entry is.")
    aliases: list[str] = Field(default_factory=list, description="Further ids that resolve to this model.")
    context_window: int = Field(
        8192, ge=64, le=131072, description="Context window in tokens (prompt + completion)."
    )
    threads: int | None = Field(
        None, ge=1, description="CPU threads for generation; None: all cores the process may use."
    )
    max_completion_tokens: int | None = Field(
        None, ge=1, description="Completion limit for requests that set none; None: until the window is full."
    )
    batch_size: int = Field(512, ge=1, description="Prompt tokens evaluated per llama.cpp decode call.")
    max_batch: int = Field(
        1,
        ge=1,
        le=64,
        description="Requests decoded together (continuous batching): each holds a sequence of the KV cache "
        "with the whole window, so the KV cache takes `max_batch` times the memory of one; more concurrent "
        "requests wait their turn, first come first served. 1: one request after another.",
    )
    chat_template: str | None = Field(
        None,
        description="Jinja chat template overriding the one in the model's metadata (the text itself, "
        "or the path of a file holding it).",
    )
    prompt_cache_mib: int = Field(
        1024,
        ge=0,
        description="Memory for evaluated prompt states kept for reuse by later requests that share a prefix "
        "(least recently used evicted first); 0: no reuse across requests, every prompt evaluated anew.",
    )
    flash_attention: bool = Field(
        True,
        description="llama.cpp's flash attention: no attention buffer of the window's size (2.5 GiB at 128K "
        "for SmolLM2 without it); on the CPU about as fast.",
    )
    rope_scaling: str | None = Field(
        None,
        pattern="^(none|linear|yarn)$",
        description="RoPE scaling for windows beyond the trained context: `none`, `linear` or `yarn`; None: "
        "what the model's metadata says.",
    )
    rope_freq_base: float | None = Field(
        None, gt=0, description="RoPE base frequency; None: the model's own."
    )
    rope_freq_scale: float | None = Field(
        None,
        gt=0,
        le=1,
        description="RoPE frequency scale (linear/yarn; trained context / window); None: the model's own, or "
        "trained / window when `rope_scaling` is set.",
    )
    yarn_orig_ctx: int | None = Field(
        None, ge=1, description="YaRN: the context the model was trained on; None: from the model's metadata."
    )


#: Request parameters an upstream server may not honour; each one listed in `unsupported` is refused with a
#: 400 that names it.
UpstreamParameter = Literal["logit_bias", "logprobs", "seed", "n", "response_format", "tools", "tool_choice"]


class UpstreamModelSettings(BaseModel):
    """A model served by an OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, another omnivox)
    as omnivox's text stage (`backend = "openai"`). omnivox still hears audio input and speaks answers."""

    id: str = Field(description="The model id clients send and /v1/models lists.")
    backend: Literal["openai"] = Field(description="Which kind of model this entry is.")
    base_url: str = Field(
        description="The upstream's OpenAI API root, e.g. `http://gpu-box:8000/v1` (requests go to "
        "`{base_url}/chat/completions`)."
    )
    upstream_model: str = Field(description="The model name the upstream serves (sent as `model`).")
    api_key: SecretStr | None = Field(None, description="Bearer key for the upstream; None: none sent.")
    api_key_env: str | None = Field(
        None, description="Name of an environment variable holding the upstream's key (instead of `api_key`)."
    )
    aliases: list[str] = Field(default_factory=list, description="Further ids that resolve to this model.")
    context_window: int | None = Field(
        None, ge=1, description="Context window the upstream serves, for /v1/models; None: not stated."
    )
    max_completion_tokens: int | None = Field(
        None, ge=1, description="Completion limit for requests that set none; None: the upstream's default."
    )
    connect_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait for a connection to the upstream (502 beyond)."
    )
    read_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds to wait for the next bytes of the upstream's answer, the first included (504 "
        "beyond).",
    )
    unsupported: list[UpstreamParameter] = Field(
        default_factory=list,
        description="Request parameters the upstream does not honour; each is refused with a 400 naming it.",
    )

    @model_validator(mode="after")
    def _check_key(self) -> UpstreamModelSettings:
        if self.api_key is not None and self.api_key_env is not None:
            raise ValueError("give either `api_key` or `api_key_env`, not both")
        return self

    def key(self) -> str | None:
        """The upstream's key, read from the environment when `api_key_env` names a variable."""
        if self.api_key_env is not None:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise ValueError(f"the environment variable {self.api_key_env!r} holds no upstream key")
            return value
        return self.api_key.get_secret_value() if self.api_key is not None else None


#: Qwen2.5-Omni's speakers for OpenAI's voice names (Chelsie is female, Ethan male).
OMNI_VOICE_MAP: dict[str, str] = {
    "alloy": "Chelsie",
    "ash": "Ethan",
    "ballad": "Ethan",
    "coral": "Chelsie",
    "echo": "Ethan",
    "fable": "Ethan",
    "nova": "Chelsie",
    "onyx": "Ethan",
    "sage": "Chelsie",
    "shimmer": "Chelsie",
    "verse": "Ethan",
    "marin": "Chelsie",
    "cedar": "Ethan",
}

#: The system prompt Qwen2.5-Omni's card requires for speech output ("otherwise the audio output may not
#: work as expected").
QWEN_OMNI_SYSTEM_PROMPT = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving "
    "auditory and visual inputs, as well as generating text and speech."
)


class OmniModelSettings(BaseModel):
    """A Qwen2.5-Omni model folder run by transformers in this process (`backend = "transformers-omni"`).
    It hears input audio itself (no Whisper) and speaks its answers in its own voice (or, with
    `speak_with = "omnivox"`, with omnivox's voices). Needs the `omni` extra (torch, transformers)."""

    id: str = Field(description="The model id clients send and /v1/models lists.")
    backend: Literal["transformers-omni"] = Field(description="Which kind of model this entry is.")
    source: str = Field(
        description="The model folder as downloaded (config.json, safetensors, tokenizer, "
        "preprocessor_config.json, spk_dict.pt), e.g. a local copy of Qwen/Qwen2.5-Omni-3B."
    )
    aliases: list[str] = Field(default_factory=list, description="Further ids that resolve to this model.")
    device: str = Field(
        "cpu", pattern=r"^(cpu|cuda(:\d+)?)$", description="Where the model runs: `cpu`, `cuda` or `cuda:N`."
    )
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="Weights and activations of the thinker and talker (token2wav always runs in float32); "
        "`bfloat16` halves the memory, for GPUs.",
    )
    context_window: int = Field(
        8192, ge=64, le=32768, description="Context window in tokens (prompt + completion)."
    )
    threads: int | None = Field(
        None, ge=1, description="CPU threads torch uses; None: torch's default (all cores)."
    )
    max_completion_tokens: int | None = Field(
        None, ge=1, description="Completion limit for requests that set none; None: until the window is full."
    )
    speak_with: Literal["model", "omnivox"] = Field(
        "model",
        description="Who speaks audio answers: `model` (its talker and token2wav, the model's own voice) "
        "or `omnivox` (omnivox's voices speak the text; the talker is not even loaded).",
    )
    voice_map: dict[str, str] = Field(
        default_factory=lambda: dict(OMNI_VOICE_MAP),
        description="OpenAI voice name -> the model's speaker (from its spk_dict.pt); a speaker's own "
        "name is accepted as a voice too.",
    )
    speech_system_prompt: str = Field(
        QWEN_OMNI_SYSTEM_PROMPT,
        description="System prompt put first when the model speaks (the model card requires this exact "
        "text for speech); a request's own system message follows it.",
    )
    first_chunk_codes: int = Field(
        24,
        ge=1,
        description="Codec codes (50 a second) in the first audio chunk: smaller is heard sooner. Rounded "
        "up to whole DiT blocks (12 codes); a chunk is decoded once the next block's codes are there too.",
    )
    chunk_codes: int = Field(
        96, ge=1, description="Codec codes in each later audio chunk (rounded up to whole DiT blocks)."
    )


def _backend_of(entry: Any) -> str:
    """Which settings class a `[[models]]` entry is: its `backend`, llama.cpp when it names none."""
    backend = entry.get("backend") if isinstance(entry, dict) else getattr(entry, "backend", None)
    return str(backend or "llama.cpp")


#: One `[[models]]` entry: settings per backend, told apart by `backend`.
ModelSettings = Annotated[
    Annotated[LanguageModelSettings, Tag("llama.cpp")]
    | Annotated[UpstreamModelSettings, Tag("openai")]
    | Annotated[OmniModelSettings, Tag("transformers-omni")],
    Discriminator(_backend_of),
]


class QuickPassSettings(BaseModel):
    """A faster first decoding for the turns of realtime sessions (callers that prefer speed): kept when
    Whisper is confident of it, else the turn is decoded again as configured (docs/realtime.md, "Latency")."""

    enabled: bool = Field(True, description="False: realtime turns are decoded as configured at once.")
    beam_size: int = Field(1, ge=1, le=16, description="Beam width of the quick pass.")
    encoder_padding_s: float = Field(
        5.0, ge=0, le=30, description="Seconds of padding its encoder sees after the clip."
    )
    min_avg_logprob: float = Field(
        -0.4,
        le=0,
        description="The quick words are kept when every segment's average token log-probability is at "
        "least this; else the clip is decoded again with the model's own settings.",
    )


class SpeechModelSettings(BaseModel):
    """One speech recogniser served under `id` (and `aliases`)."""

    id: str = Field(EMBEDDED_SPEECH_MODEL, description="The model id clients send and /v1/models lists.")
    source: str = Field(
        f"embedded:{EMBEDDED_SPEECH_MODEL}",
        description="`embedded:whisper-base` (multilingual, translates; the default), "
        "`embedded:whisper-tiny.en` (English, about 3x faster, about 3x the word errors on short questions), "
        "or the path of a faster-whisper (CTranslate2) model folder.",
    )
    backend: str = Field("faster-whisper", description="Runtime that runs the model (registry key).")
    aliases: list[str] = Field(default_factory=list, description="Further ids that resolve to this model.")
    compute_type: str = Field("int8", description="CTranslate2 compute type (int8, int8_float32, float32).")
    threads: int | None = Field(None, ge=1, description="CPU threads; None: all cores the process may use.")
    beam_size: int = Field(5, ge=1, le=16, description="Beam width of the decoder.")
    vad: bool = Field(True, description="Trim silence with the Silero voice-activity detector first.")
    encoder_padding_s: float | None = Field(
        10.0,
        ge=0,
        le=30,
        description="Seconds of padding the encoder sees after a clip shorter than Whisper's 30 s window: "
        "it runs on the clip plus this much, not on the whole window (a 2 s question: about 5x less encoder "
        "work). At 5 s or less tiny.en falls into repetitions (base holds to 3 s). None or 30: the whole "
        "window.",
    )
    quick_pass: QuickPassSettings = Field(
        default_factory=QuickPassSettings,
        description="Realtime turns are first decoded this faster way and decoded again as above only when "
        "Whisper is unsure of the quick words.",
    )


#: How many texts a voice speaks at once: a number, or "auto" (one per core the process may use).
Jobs = Annotated[int, Field(ge=1)] | Literal["auto"]


class VoiceSettings(BaseModel):
    """One voice that can speak answers."""

    id: str = Field(description='The voice id (usable as `voice` or as a custom voice `{"id": ...}`).')
    backend: str = Field("piper", description="Synthesis runtime (registry key): `piper` or `flite`.")
    source: str = Field(
        description="piper: `embedded:en_US-joe-medium` or the path of a Piper `.onnx` voice (its "
        "`.onnx.json` beside it); flite: the flite voice name (kal, awb, rms, slt)."
    )
    parallel: Jobs | None = Field(
        None, description="Texts this voice speaks at once; None: `synthesis.parallel`."
    )


def _default_voices() -> list[VoiceSettings]:
    return [
        VoiceSettings(id="joe", backend="piper", source="embedded:en_US-joe-medium"),
        VoiceSettings(id="slt", backend="flite", source="slt"),
        VoiceSettings(id="rms", backend="flite", source="rms"),
        VoiceSettings(id="awb", backend="flite", source="awb"),
    ]


DEFAULT_VOICE_MAP: dict[str, str] = {
    "alloy": "joe",
    "ash": "rms",
    "ballad": "awb",
    "coral": "slt",
    "echo": "joe",
    "fable": "awb",
    "nova": "slt",
    "onyx": "rms",
    "sage": "slt",
    "shimmer": "slt",
    "verse": "joe",
    "marin": "slt",
    "cedar": "rms",
}


class SynthesisSettings(BaseModel):
    """Speaking: voices, OpenAI's voice names, stored audio answers."""

    voices: list[VoiceSettings] = Field(default_factory=_default_voices, description="Voices to load.")
    parallel: Jobs = Field(
        "auto",
        description="Texts one voice speaks at once (the choices of an answer with `n` > 1, concurrent "
        'requests): "auto", one per core the process may use; 1: one after another.',
    )
    voice_map: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_VOICE_MAP),
        description="OpenAI voice name -> configured voice id; names left out speak with the first voice.",
    )
    audio_expiry_seconds: int = Field(
        3600, ge=1, description="How long a spoken answer stays retrievable by its audio id."
    )
    first_piece_words: int = Field(
        3,
        ge=0,
        le=8,
        description="A streamed spoken answer's first piece ends at the first phrase boundary after this "
        "many words, so the voice starts while the sentence is written; 0: sentence-sized from the start.",
    )
    store: Path = Field(
        Path("~/.local/share/omnivox/audio.sqlite3"),
        description="SQLite file of stored spoken answers (kept across restarts until they expire).",
    )

    @model_validator(mode="after")
    def _check_voices(self) -> SynthesisSettings:
        ids = {v.id for v in self.voices}
        unknown = sorted(v for v in self.voice_map.values() if v not in ids)
        if unknown:
            raise ValueError(f"voice_map names voices that are not configured: {unknown}")
        return self


class AudioSettings(BaseModel):
    """Limits on audio input (chat `input_audio` parts and uploaded files)."""

    max_seconds_per_part: float = Field(
        600.0, gt=0, description="Longest accepted audio part or file, seconds."
    )
    max_seconds_per_request: float = Field(
        1800.0, gt=0, description="Most audio seconds in one chat request, all parts together."
    )
    max_channels: int = Field(32, ge=1, description="Most channels an audio file may have.")
    cues: Literal["auto", "always", "never"] = Field(
        "auto",
        description="What the language model reads beside the transcript of a chat `input_audio` part: "
        "`auto`, only the cues that carry information (pauses, very quiet, clipped, no speech, a language "
        "other than English, which part of several), so a lone spoken question reads exactly like the "
        "typed one; `always`, the full header (duration, language, speaking rate, pauses, loudness); "
        "`never`, the transcript alone (docs/audio-input.md).",
    )


class RequestLimits(BaseModel):
    """Bounds on what one chat request may ask the server to prepare before any model runs (parsing,
    rendering, compiling a schema into a grammar). Above a limit: a 400 that names the parameter. The
    schema limits are OpenAI's own for structured outputs."""

    max_json_values: int = Field(
        500_000,
        ge=1000,
        description="Most JSON values in a request body, bounded before it is parsed by counting its commas, "
        "braces and brackets (inside strings too: base64 audio has none, prose a few per sentence).",
    )
    max_messages: int = Field(2048, ge=1, description="Most messages in one request.")
    max_content_parts: int = Field(
        1024, ge=1, description="Most content parts in one request, all messages together."
    )
    max_tools: int = Field(128, ge=1, description="Most tools in one request.")
    max_schema_properties: int = Field(
        5000,
        ge=1,
        description="Most object properties in one schema (response_format, or all tools together).",
    )
    max_schema_enum_values: int = Field(
        1000, ge=1, description="Most enum values in one schema, all enums together."
    )
    max_schema_depth: int = Field(10, ge=1, description="Deepest nesting of objects and arrays in a schema.")


class RateLimitSettings(BaseModel):
    """Per-client limits on /v1/*: each API key (or, with no keys configured, each client address) has its
    own budget that refills continuously. None: no limit."""

    requests_per_minute: int | None = Field(None, ge=1, description="Requests per minute per client.")
    tokens_per_minute: int | None = Field(
        None, ge=1, description="Chat tokens (prompt + completion) per minute per client."
    )


class RealtimeSettings(BaseModel):
    """The Realtime API (/v1/realtime, WebSocket): what one server and one session may hold."""

    max_sessions: int = Field(
        16, ge=1, description="Realtime sessions open at once; beyond that a new one is refused and closed."
    )
    max_buffer_seconds: float = Field(
        300.0, gt=0, description="Most seconds of input audio a session buffers before a commit."
    )
    max_items: int = Field(1000, ge=1, description="Most conversation items a session keeps.")
    early_recognition: bool = Field(
        True,
        description="With server_vad, recognise the turn so far at each pause while the user speaks, so "
        "that the transcript is ready (or under way) when the silence window ends the turn; false: "
        "recognise once, after it ends (fewer recognitions, a later answer). semantic_vad always does, "
        "as it decides from the words.",
    )
    speculative: bool = Field(
        True,
        description="With server_vad or semantic_vad creating responses: at a pause in the speech, start "
        "the answer to what was heard so far and hold its events; release them at once when the pause "
        "ends the turn, drop them unseen when the user speaks on. false: the answer starts when the turn "
        "ends.",
    )


class StageSettings(BaseModel):
    """How one kind of stage runs as a Ray Serve deployment (`omnivox serve --ray`, docs/scaling.md): its
    replicas, where they may run, and how many requests each takes."""

    replicas: int = Field(1, ge=1, description="Replicas (the lower bound when autoscaling).")
    max_replicas: int | None = Field(
        None, ge=1, description="Above `replicas`: autoscale up to this many on the requests under way."
    )
    target_ongoing_requests: float = Field(
        2.0, gt=0, description="Autoscaling: requests under way per replica that it aims at."
    )
    num_cpus: float = Field(
        1.0, ge=0, description="CPUs Ray reserves per replica (set it to the engine's threads)."
    )
    num_gpus: float = Field(0.0, ge=0, description="GPUs Ray reserves per replica.")
    resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom Ray resources per replica, e.g. {cpu_worker = 0.01}: the replica runs only on "
        "nodes started with that resource.",
    )
    max_ongoing_requests: int = Field(
        4, ge=1, description="Requests one replica serves at once; the others wait in the caller's queue."
    )
    max_queued_requests: int = Field(
        8,
        ge=1,
        description="Requests each caller queues for this deployment beyond those; further ones: 503 at "
        "once.",
    )


class RaySettings(BaseModel):
    """The deployments of `omnivox serve --ray` (docs/scaling.md). The single process ignores them."""

    app_name: str = Field("omnivox", description="The Serve application's name.")
    ingress: StageSettings = Field(
        default_factory=lambda: StageSettings(max_ongoing_requests=64, max_queued_requests=64),
        description="The HTTP ingress: the same FastAPI app as the single process.",
    )
    chat: StageSettings = Field(
        default_factory=StageSettings, description="Each language model of `models` (one deployment each)."
    )
    speech: StageSettings = Field(
        default_factory=lambda: StageSettings(max_ongoing_requests=1),
        description="Each recogniser of `speech_models` (one deployment each).",
    )
    voices: StageSettings = Field(
        default_factory=lambda: StageSettings(max_ongoing_requests=1),
        description="Each voice family (`synthesis.voices` of one backend: one deployment per backend).",
    )
    batch_ms: float = Field(
        20.0,
        ge=0,
        description="Generated events are sent from a language-model replica in batches of this many ms "
        "(the first at once; 0: no waiting, what is already there still goes together).",
    )
    proxy_location: Literal["HeadOnly", "EveryNode"] = Field(
        "HeadOnly", description="Where Serve runs its HTTP proxy (on `host`:`port`)."
    )


class Settings(BaseSettings):
    """Server settings. Every field can be set in the TOML file, as `OMNIVOX_<FIELD>` or as a flag."""

    model_config = SettingsConfigDict(env_prefix="OMNIVOX_", env_nested_delimiter="__", extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on (0: any free port).")
    log_level: str = Field("info", description="Python logging level name.")
    models: list[ModelSettings] = Field(
        default_factory=lambda: list[ModelSettings]([LanguageModelSettings()]),
        description="Language models to load at start-up.",
    )
    default_model: str | None = Field(
        None,
        description="Id of the model that OpenAI's audio chat ids (gpt-4o-audio-preview, ...) resolve to; "
        "None: the first of `models`.",
    )
    speech_models: list[SpeechModelSettings] = Field(
        default_factory=lambda: [SpeechModelSettings()],
        description="Speech recognisers to load at start-up (hearing input_audio, /v1/audio/*).",
    )
    default_speech_model: str | None = Field(
        None,
        description="Id of the recogniser that `whisper-1`, `gpt-4o-transcribe` and chat audio use; None: "
        "the first of `speech_models`.",
    )
    audio: AudioSettings = Field(default_factory=AudioSettings, description="Audio input limits.")
    synthesis: SynthesisSettings = Field(
        default_factory=SynthesisSettings, description="Voices and stored spoken answers."
    )
    cache_dir: Path = Field(
        Path("~/.cache/omnivox"),
        description="Where derived model files are kept (the joined Whisper base weights).",
    )
    max_queued_requests: int = Field(
        8, ge=1, description="Requests admitted per model, running + waiting; beyond that, 503 at once."
    )
    max_choices: int = Field(8, ge=1, le=128, description="Largest `n` (choices per request) accepted.")
    max_request_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Largest accepted request body in bytes (413 beyond)."
    )
    limits: RequestLimits = Field(
        default_factory=RequestLimits, description="What one chat request may ask to have prepared."
    )
    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Keys accepted as `Authorization: Bearer <key>` on /v1/*; none (and no file): no keys "
        "are asked for.",
    )
    api_keys_file: Path | None = Field(
        None, description="A file of further API keys, one per line (blank lines and # comments ignored)."
    )
    rate_limits: RateLimitSettings = Field(
        default_factory=RateLimitSettings, description="Requests and tokens per minute per client."
    )
    self_check: bool = Field(
        True,
        description="Run every model once before listening (a language model first in a child process, so "
        "that a native crash is reported with the model's name instead of killing the server); off: start "
        "faster and find out on the first request.",
    )
    admin_api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Keys of the usage and costs API (/v1/organization/*), distinct from `api_keys`; none: "
        "that API answers 403.",
    )
    realtime: RealtimeSettings = Field(
        default_factory=RealtimeSettings, description="Realtime API sessions: how many, and their bounds."
    )
    usage: UsageSettings = Field(
        default_factory=UsageSettings, description="Usage per API key and model: its store and prices."
    )
    shutdown_grace_seconds: int = Field(
        30,
        ge=0,
        description="On SIGTERM: how long running requests may take to finish before they are cancelled.",
    )
    ray: RaySettings = Field(
        default_factory=RaySettings, description="Deployments under `omnivox serve --ray` (docs/scaling.md)."
    )

    @model_validator(mode="after")
    def _check_models(self) -> Settings:
        if not self.models:
            raise ValueError("at least one model must be configured")
        ids = [m.id for m in self.models]
        if self.default_model is not None and self.default_model not in ids:
            raise ValueError(f"default_model {self.default_model!r} is not one of the models {ids}")
        speech_ids = [m.id for m in self.speech_models]
        if self.default_speech_model is not None and self.default_speech_model not in speech_ids:
            raise ValueError(f"default_speech_model {self.default_speech_model!r} is not one of {speech_ids}")
        return self

    @property
    def default_model_id(self) -> str:
        return self.default_model or self.models[0].id

    @property
    def default_speech_model_id(self) -> str | None:
        if self.default_speech_model:
            return self.default_speech_model
        return self.speech_models[0].id if self.speech_models else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from `overrides` > environment > `config_file` (TOML) > defaults."""

    class _FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if config_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
            return tuple(sources)

    return _FileSettings(**overrides)
