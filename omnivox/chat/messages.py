"""Request messages -> what the chat template renders. Text parts are joined; `input_audio` parts stay
as AudioPart placeholders until they have been heard (omnivox.chat.hearing), then render as their
transcript block."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omnivox.errors import InvalidRequest, UnsupportedParameter
from omnivox.protocol.chat import ChatMessage, ContentPart

#: Template roles: OpenAI's `developer` is the newer name of `system`, which every chat template knows.
_TEMPLATE_ROLE = {"developer": "system"}
#: Formats OpenAI accepts in chat `input_audio` parts.
INPUT_AUDIO_FORMATS = ("wav", "mp3")
NOT_FOR_THIS_MODEL = "is not supported by this model"

_PART_ROLES = {
    "text": {"system", "developer", "user", "assistant", "tool"},
    "refusal": {"assistant"},
    "input_audio": {"user"},
    "image_url": {"user"},
    "file": {"user"},
}


@dataclass(frozen=True, slots=True)
class AudioPart:
    number: int  # 1-based, in request order
    path: str  # its parameter path, e.g. messages[0].content[1].input_audio
    data: bytes  # the encoded file
    format: str


@dataclass(frozen=True, slots=True)
class AudioRef:
    """An earlier spoken answer, by its audio id: the model reads its transcript."""

    path: str  # messages[i].audio.id
    id: str


Piece = str | AudioPart | AudioRef


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    fields: dict[str, Any]  # role and tool fields, as the template expects them
    content: tuple[Piece, ...]


def plan_messages(messages: Sequence[ChatMessage]) -> tuple[PlannedMessage, ...]:
    counter = _Counter()
    return tuple(_plan_message(m, f"messages[{i}]", counter) for i, m in enumerate(messages))


def audio_parts(messages: Sequence[PlannedMessage]) -> list[AudioPart]:
    return [p for m in messages for p in m.content if isinstance(p, AudioPart)]


def lone_audio(messages: Sequence[PlannedMessage]) -> frozenset[int]:
    """The numbers of the audio parts that are the whole content of their message (other parts, if
    any, empty text): such a part reads as the message itself, like the same words typed."""
    lone = set()
    for message in messages:
        parts = [p for p in message.content if isinstance(p, AudioPart)]
        others = [p for p in message.content if not isinstance(p, AudioPart)]
        if len(parts) == 1 and all(p == "" for p in others):
            lone.add(parts[0].number)
    return frozenset(lone)


def audio_refs(messages: Sequence[PlannedMessage]) -> list[AudioRef]:
    return [p for m in messages for p in m.content if isinstance(p, AudioRef)]


def render(
    messages: Sequence[PlannedMessage], heard: Sequence[str], recalled: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Template-ready messages: audio part n becomes `heard[n - 1]` on lines of its own; an earlier
    spoken answer becomes its transcript `recalled[id]`."""
    out = []
    for message in messages:
        text = ""
        for piece in message.content:
            if isinstance(piece, AudioPart):
                block = heard[piece.number - 1]
                text += ("\n" if text and not text[-1].isspace() else "") + block + "\n"
            elif isinstance(piece, AudioRef):
                text += recalled[piece.id]
            else:
                text += piece
        out.append({**message.fields, "content": text.rstrip("\n") if message.content else text})
    return out


class _Counter:
    def __init__(self) -> None:
        self.value = 0

    def next(self) -> int:
        self.value += 1
        return self.value


def _plan_message(message: ChatMessage, path: str, counter: _Counter) -> PlannedMessage:
    if message.audio is not None and message.role != "assistant":
        raise InvalidRequest("Only `assistant` messages refer to earlier audio.", param=f"{path}.audio")
    if message.function_call is not None:
        raise UnsupportedParameter(
            "`function_call` messages are deprecated and not supported: use `tool_calls`.",
            param=f"{path}.function_call",
        )
    fields: dict[str, Any] = {"role": _TEMPLATE_ROLE.get(message.role, message.role)}
    if message.name is not None:
        fields["name"] = message.name
    if message.role == "assistant" and message.tool_calls:
        fields["tool_calls"] = message.tool_calls
    if message.role == "tool":
        if not message.tool_call_id:
            raise InvalidRequest(
                "Missing required parameter: 'tool_call_id'.",
                param=f"{path}.tool_call_id",
                code="missing_required_parameter",
            )
        fields["tool_call_id"] = message.tool_call_id
    elif message.tool_call_id is not None:
        raise InvalidRequest("Only `tool` messages carry `tool_call_id`.", param=f"{path}.tool_call_id")
    if message.tool_calls is not None and message.role != "assistant":
        raise InvalidRequest("Only `assistant` messages carry `tool_calls`.", param=f"{path}.tool_calls")
    return PlannedMessage(fields, _content(message, path, counter))


def _content(message: ChatMessage, path: str, counter: _Counter) -> tuple[Piece, ...]:
    content = message.content
    if message.audio is not None:  # the spoken answer stands for the content
        return (AudioRef(f"{path}.audio.id", message.audio.id),)
    if content is None:
        if message.role == "assistant" and (message.tool_calls or message.refusal is not None):
            return (message.refusal or "",)
        raise InvalidRequest(
            f"Missing required parameter: '{path}.content'.",
            param=f"{path}.content",
            code="missing_required_parameter",
        )
    if isinstance(content, str):
        return (content,)
    return tuple(
        _piece(part, message.role, f"{path}.content[{j}]", counter) for j, part in enumerate(content)
    )


def _piece(part: ContentPart, role: str, path: str, counter: _Counter) -> Piece:
    if role not in _PART_ROLES[part.type]:
        raise InvalidRequest(
            f"Content parts of type '{part.type}' are not allowed in {role} messages.", param=f"{path}.type"
        )
    if part.type in ("image_url", "file"):
        raise UnsupportedParameter(
            f"Content parts of type '{part.type}' {NOT_FOR_THIS_MODEL}.", param=f"{path}.type"
        )
    if part.type == "input_audio":
        return _audio_part(part, path, counter)
    value = part.text if part.type == "text" else part.refusal
    if value is None:
        raise InvalidRequest(
            f"Missing required parameter: '{path}.{part.type}'.",
            param=f"{path}.{part.type}",
            code="missing_required_parameter",
        )
    return value


def _audio_part(part: ContentPart, path: str, counter: _Counter) -> AudioPart:
    audio = part.input_audio
    path = f"{path}.input_audio"
    if audio is None:
        raise InvalidRequest(
            f"Missing required parameter: '{path}'.", param=path, code="missing_required_parameter"
        )
    if audio.format not in INPUT_AUDIO_FORMATS:
        raise InvalidRequest(
            f"Invalid audio format {audio.format!r}: use one of {', '.join(INPUT_AUDIO_FORMATS)}.",
            param=f"{path}.format",
        )
    try:
        data = base64.b64decode(audio.data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("The audio data is not valid base64.", param=f"{path}.data") from None
    return AudioPart(counter.next(), path, data, audio.format)
