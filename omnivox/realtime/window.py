"""Fitting a long session into the model's context window: the session's `truncation`.

`"auto"` drops the oldest items from what the model reads, just enough that the prompt fits with room
for the answer; `{"type": "retention_ratio", "retention_ratio": r}` drops until the prompt uses at most
`r` of that room, so that the next turns fit without another cut (and the kept prefix stays cached);
`"disabled"` fails the response when the prompt does not fit. Items left out stay in the conversation
(retrievable, deletable): only the model no longer reads them, and once left out they stay out, so the
prompt's beginning is the same from turn to turn. The instructions are always kept, and so is the last
item; a tool result is never kept without its call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence

from omnivox.errors import ContextLengthExceeded
from omnivox.protocol.realtime import RetentionRatio, Truncation
from omnivox.realtime.conversation import Entry, messages
from omnivox.runtimes.chat_model import ChatModel, GenerationSpec, Prompt
from omnivox.runtimes.chat_model import Conversation as ChatConversation

#: Of the window, at most this share is kept back for the answer when its limit is larger ("inf").
ANSWER_SHARE = 4


PromptOf = Callable[[Sequence[Entry]], Awaitable[Prompt]]


def retention(truncation: Truncation) -> float | None:
    """The share of the room the prompt may use after a cut: 1.0 for "auto", None when disabled."""
    if isinstance(truncation, RetentionRatio):
        return truncation.retention_ratio
    return None if truncation == "disabled" else 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class Fitted:
    prompt: Prompt
    spec: GenerationSpec
    dropped: tuple[str, ...]  # ids of the items left out by this cut


async def fit(
    model: ChatModel,
    instructions: str,
    entries: Sequence[Entry],
    spec: GenerationSpec,
    truncation: Truncation,
) -> Fitted:
    """The prompt of `entries` that fits the window (ContextLengthExceeded when it cannot), and the spec
    with its answer limit shortened to what the window leaves."""

    async def prompt_of(kept: Sequence[Entry]) -> Prompt:
        return await model.prompt(ChatConversation(await messages(instructions, kept)), spec)

    window = model.info.context_window
    prompt = await prompt_of(entries)
    if window is None or prompt.tokens is None:
        return Fitted(prompt, spec, ())
    room = window - min(spec.max_tokens or window, window // ANSWER_SHARE)
    ratio = retention(truncation)
    if prompt.tokens > room:
        if ratio is None or len(entries) < 2:
            raise _too_long(window, prompt.tokens)
        prompt, entries, dropped = await _cut(prompt_of, entries, max(1, int(ratio * room)))
        if prompt.tokens is None or prompt.tokens > room:
            raise _too_long(window, prompt.tokens or 0)
    else:
        dropped = ()
    assert prompt.tokens is not None
    limit = window - prompt.tokens
    if spec.max_tokens is None or spec.max_tokens > limit:
        spec = dataclasses.replace(spec, max_tokens=limit)
    return Fitted(prompt, spec, dropped)


async def _cut(
    prompt_of: PromptOf, entries: Sequence[Entry], target: int
) -> tuple[Prompt, Sequence[Entry], tuple[str, ...]]:
    """The fewest oldest items dropped so that the prompt is at most `target` tokens (binary search over
    how many; the last item always stays)."""
    low, high = 1, len(entries) - 1  # drop at least one; at most all but the last
    best = None
    while low <= high:
        middle = (low + high) // 2
        kept = _kept(entries, middle)
        prompt = await prompt_of(kept)
        if prompt.tokens is not None and prompt.tokens <= target:
            best, high = (prompt, kept, middle), middle - 1
        else:
            low = middle + 1
    if best is None:  # even the last item alone is over the target: keep it, the caller decides
        kept = _kept(entries, len(entries) - 1)
        best = (await prompt_of(kept), kept, len(entries) - 1)
    prompt, kept, _ = best
    kept_ids = {id(e) for e in kept}
    return prompt, kept, tuple(e.item["id"] for e in entries if id(e) not in kept_ids)


def _kept(entries: Sequence[Entry], drop: int) -> Sequence[Entry]:
    """`entries` without the first `drop`, and without tool results whose call was dropped."""
    kept = list(entries[drop:])
    while len(kept) > 1 and kept[0].item["type"] == "function_call_output":
        kept.pop(0)
    return kept


def _too_long(window: int, tokens: int) -> ContextLengthExceeded:
    return ContextLengthExceeded(
        f"This model's maximum context length is {window} tokens, and the conversation needs {tokens} "
        "with room for the answer; the session's truncation is disabled or cannot cut enough.",
        param="session.truncation",
    )
