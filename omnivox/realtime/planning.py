"""From the wire to what runs, once: a `response.create` (over the session's configuration) into a frozen
ResponsePlan, and a `conversation.item.create` into a conversation entry. Everything a client can get
wrong is refused here, before the response starts."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from omnivox.errors import InvalidRequest
from omnivox.protocol.realtime import AudioFormat, ContentPart, FunctionTool, Item, ResponseParams, ToolChoice
from omnivox.realtime.conversation import Conversation, Entry, messages
from omnivox.realtime.inputs import Samples, decode_audio
from omnivox.realtime.responder import ResponsePlan
from omnivox.realtime.session import Session
from omnivox.realtime.wire import new_id
from omnivox.runtimes.chat_model import UNHEARD, GenerationSpec, Tool
from omnivox.runtimes.chat_model import Conversation as ChatConversation
from omnivox.runtimes.chat_model import ToolChoice as Constraint
from omnivox.runtimes.events import UsageReport
from omnivox.runtimes.worker import Ticket
from omnivox.sampling.sampler import SamplingParams
from omnivox.serving.catalog import ModelCatalog, ServedModel

#: OpenAI's Realtime API has no temperature any more (GA); its models sample at 0.8.
TEMPERATURE = 0.8
#: Which content part types each role's message may hold.
_PARTS = {
    "user": ("input_text", "input_audio", "input_image"),
    "system": ("input_text",),
    "assistant": ("output_text", "output_audio", "text", "audio"),
}


def _constraint(tools: list[FunctionTool], choice: ToolChoice) -> Constraint | None:
    if not tools or choice == "none":
        return None
    known = tuple(
        Tool(t.name, t.description or "", t.parameters or {"type": "object", "properties": {}}) for t in tools
    )
    if isinstance(choice, str):
        return Constraint(known, "required" if choice == "required" else "auto", parallel=False)
    named = tuple(t for t in known if t.name == choice.name)
    if not named:
        raise InvalidRequest(
            f"Tool choice names {choice.name!r}, which is not among the tools.",
            param="tool_choice.name",
            code="invalid_value",
        )
    return Constraint(named, "required", parallel=False, function=choice.name)


class Planner:
    def __init__(
        self,
        model: ServedModel,
        catalog: ModelCatalog,
        on_usage: Callable[[UsageReport], None],
        admit: Callable[[], None],
        *,
        first_words: int | None = None,
    ) -> None:
        self._model = model
        self._catalog = catalog
        self._on_usage = on_usage
        self._admit = admit  # the client's rate limit, asked before each response
        self._first_words = first_words  # `[synthesis] first_piece_words` (None: 0, sentence-sized)

    async def prefill(self, session: Session, conversation: Conversation) -> None:
        """While the user speaks: the prompt of the next automatic response up to the new user turn
        (the session's instructions and the conversation so far) evaluated on the model's worker, so
        that at the end of the turn only the new words are left (`ChatModel.prefill`). Not when an item
        is still being heard, nor with tools (their schemas change the prompt's head)."""
        config = session.config
        entries = conversation.context()
        if config.tools and config.tool_choice != "none":
            return
        if any(e.heard is not None and not e.heard.done() for e in entries):
            return
        turn = Entry(
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": UNHEARD}]}
        )
        self._model.model.prefill(ChatConversation(await messages(config.instructions, [*entries, turn])))

    def admit(self) -> None:
        """The client's rate limit (`rate_limit_exceeded` when over), asked once per response."""
        self._admit()

    def plan(
        self, session: Session, params: ResponseParams, conversation: Conversation, *, admit: bool = True
    ) -> tuple[ResponsePlan, Ticket | None]:
        """The response's plan and, for a spoken answer, its place in the voice's queue (503-like
        `server_overloaded` error at once when it is full). `admit` False: the rate limit is asked
        later (a speculative response, when it is released)."""
        if admit:
            self._admit()
        config = session.config
        modalities = params.output_modalities or config.output_modalities
        tools = params.tools if params.tools is not None else config.tools
        choice = params.tool_choice if params.tool_choice is not None else config.tool_choice
        limit = params.max_output_tokens if params.max_output_tokens is not None else config.max_output_tokens
        output = params.audio.output if params.audio is not None and params.audio.output is not None else None
        voice_name = (output.voice if output is not None else None) or config.audio.output.voice
        fmt = (output.format if output is not None else None) or config.audio.output.format
        voice = None
        if "audio" in modalities:
            param = (
                "response.audio.output.voice"
                if output is not None and output.voice
                else "session.audio.output.voice"
            )
            voice = self._catalog.resolve_voice(voice_name, param=param)
        spec = GenerationSpec(
            sampling=SamplingParams(temperature=TEMPERATURE),
            max_tokens=limit if isinstance(limit, int) else self._model.default_max_tokens,
            stop=(),
            constraint=_constraint(tools, choice),
            stream=True,
            on_usage=self._on_usage,
        )
        inputs = None
        if params.input is not None:
            inputs = [
                self.entry(Item.model_validate(raw), config.audio.input.format)[0] for raw in params.input
            ]
        plan = ResponsePlan(
            id=new_id("resp"),
            model=self._model.model,
            spec=spec,
            instructions=params.instructions if params.instructions is not None else config.instructions,
            modalities=list(modalities),
            voice=voice,
            voice_name=voice_name,
            speed=config.audio.output.speed,
            format=fmt,
            max_output_tokens=limit,
            metadata=params.metadata,
            in_conversation=params.conversation in (None, "auto"),
            input=inputs,
            truncation=config.truncation,
            first_words=self._first_words,
        )
        ticket = voice.worker.admit() if voice is not None else None
        return plan, ticket

    def entry(self, item: Item, fmt: AudioFormat) -> tuple[Entry, list[tuple[int, Samples]]]:
        """A conversation entry for a client's item, and the audio of its parts still to be heard."""
        wire: dict[str, Any] = {
            "id": item.id or new_id("item"),
            "type": item.type,
            "object": "realtime.item",
            "status": "completed",
        }
        audio: list[tuple[int, Samples]] = []
        if item.type == "function_call":
            wire |= {
                "call_id": _required(item.call_id, "item.call_id"),
                "name": _required(item.name, "item.name"),
                "arguments": item.arguments or "",
            }
        elif item.type == "function_call_output":
            wire |= {
                "call_id": _required(item.call_id, "item.call_id"),
                "output": _required(item.output, "item.output"),
            }
        else:
            role = _required(item.role, "item.role")
            parts = item.content if item.content is not None else []
            content = []
            for index, part in enumerate(parts):
                content.append(self._part(role, index, part, fmt, audio))
            wire |= {"role": role, "content": content}
        return Entry(wire), audio

    @staticmethod
    def _part(
        role: str, index: int, part: ContentPart, fmt: AudioFormat, audio: list[tuple[int, Samples]]
    ) -> dict[str, Any]:
        path = f"item.content[{index}]"
        if part.type not in _PARTS[role]:
            raise InvalidRequest(
                f"Invalid content type {part.type!r} for a {role} message.",
                param=f"{path}.type",
                code="invalid_value",
            )
        if part.type in ("input_text", "output_text", "text"):
            kind = "output_text" if role == "assistant" else "input_text"
            return {"type": kind, "text": _required(part.text, f"{path}.text")}
        if part.type == "input_image":
            return {"type": "input_image", "image_url": _required(part.image_url, f"{path}.image_url")}
        if part.type in ("output_audio", "audio"):
            return {"type": "output_audio", "transcript": part.transcript or ""}
        if part.audio is not None:
            try:
                raw = base64.b64decode(part.audio, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidRequest(
                    "Invalid audio: not base64.", param=f"{path}.audio", code="invalid_value"
                ) from None
            audio.append((index, decode_audio(raw, fmt)))
        elif part.transcript is None:
            raise InvalidRequest(
                "An input_audio part needs `audio` (or a `transcript`).",
                param=f"{path}.audio",
                code="missing_required_parameter",
            )
        return {"type": "input_audio", "transcript": part.transcript}


def _required(value: str | None, param: str) -> str:
    if value is None:
        raise InvalidRequest(
            f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
        )
    return value
