"""A session's conversation: its items in order (as the wire shows them), with what the server keeps
beside each one: a user audio item's recognised words (a future, since recognition runs after the commit)
and a spoken answer's pieces with where each ends in its audio, so `truncate` keeps the words heard.

The language model reads the conversation as chat messages (`messages`): audio stands as its transcript."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from omnivox.errors import InvalidRequest
from omnivox.realtime.wire import new_id

Item = dict[str, Any]


@dataclass(slots=True)
class Entry:
    item: Item
    heard: asyncio.Future[str] | None = None  # a user audio item: its words, once recognised
    pieces: list[tuple[int, str]] = field(default_factory=list)  # spoken: (end ms in its audio, words)
    audio_ms: int = 0  # spoken: milliseconds of audio produced


def _unknown(item_id: str, param: str = "item_id") -> InvalidRequest:
    return InvalidRequest(f"Item with item_id not found: {item_id}", param=param, code="invalid_value")


class Conversation:
    def __init__(self, max_items: int) -> None:
        self.id = new_id("conv")
        self._entries: dict[str, Entry] = {}
        self._max_items = max_items

    def __len__(self) -> int:
        return len(self._entries)

    def last_id(self) -> str | None:
        return next(reversed(self._entries), None)

    def get(self, item_id: str) -> Entry:
        entry = self._entries.get(item_id)
        if entry is None:
            raise _unknown(item_id)
        return entry

    def add(self, entry: Entry, previous_item_id: str | None = None) -> str | None:
        """Insert after `previous_item_id` ("root": first; None: last); returns the id of the item now
        before it (None at the start)."""
        item_id = entry.item["id"]
        if item_id in self._entries:
            raise InvalidRequest(
                f"Item with id {item_id!r} already exists.", param="item.id", code="invalid_value"
            )
        if len(self._entries) >= self._max_items:
            raise InvalidRequest(
                f"The conversation holds {self._max_items} items, the most this server keeps per session; "
                "delete some first.",
                param="item",
                code="conversation_full",
            )
        if previous_item_id is None or previous_item_id == self.last_id():
            before = self.last_id()
            self._entries[item_id] = entry
            return before
        if previous_item_id != "root" and previous_item_id not in self._entries:
            raise _unknown(previous_item_id, "previous_item_id")
        entries = list(self._entries.items())
        at = 0 if previous_item_id == "root" else [k for k, _ in entries].index(previous_item_id) + 1
        entries.insert(at, (item_id, entry))
        self._entries = dict(entries)
        return None if at == 0 else entries[at - 1][0]

    def delete(self, item_id: str) -> None:
        self.get(item_id)
        del self._entries[item_id]

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Keep only what was heard of a spoken answer: the pieces that ended by `audio_end_ms` (a piece
        cut short counts as heard when most of it was)."""
        entry = self.get(item_id)
        content = entry.item.get("content") or []
        if (
            entry.item.get("role") != "assistant"
            or content_index >= len(content)
            or (content[content_index].get("type") != "output_audio")
        ):
            raise InvalidRequest(
                "Only model output audio messages can be truncated",
                param="item_id",
                code="unsupported_content_type",
            )
        if audio_end_ms > entry.audio_ms:
            raise InvalidRequest(
                f"Audio content of {entry.audio_ms}ms is already shorter than {audio_end_ms}ms",
                param="audio_end_ms",
                code="invalid_value",
            )
        heard, start = [], 0
        for end, words in entry.pieces:
            if end <= audio_end_ms or (start < audio_end_ms and audio_end_ms - start >= (end - start) / 2):
                heard.append(words)
            start = end
        entry.pieces = [(end, words) for end, words in entry.pieces[: len(heard)]]
        entry.audio_ms = audio_end_ms
        content[content_index]["transcript"] = "".join(heard)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())


async def messages(instructions: str, entries: Sequence[Entry]) -> list[dict[str, Any]]:
    """The chat messages the language model reads: the instructions, then each item."""
    out: list[dict[str, Any]] = [{"role": "system", "content": instructions}] if instructions else []
    for entry in entries:
        out.append(await _message(entry))
    return out


async def _message(entry: Entry) -> dict[str, Any]:
    item = entry.item
    if item["type"] == "function_call":
        call = {
            "id": item["call_id"],
            "type": "function",
            "function": {"name": item["name"], "arguments": item.get("arguments") or "{}"},
        }
        return {"role": "assistant", "content": "", "tool_calls": [call]}
    if item["type"] == "function_call_output":
        return {"role": "tool", "tool_call_id": item["call_id"], "content": item.get("output") or ""}
    texts = []
    for part in item.get("content") or []:
        if part["type"] == "input_audio":
            texts.append(await entry.heard if entry.heard is not None else part.get("transcript") or "")
        elif part["type"] in ("output_audio", "audio"):
            texts.append(part.get("transcript") or "")
        elif part["type"] == "input_image":
            texts.append("[an image the user shared]")
        else:
            texts.append(part.get("text") or "")
    return {"role": item["role"], "content": "\n".join(t for t in texts if t)}
