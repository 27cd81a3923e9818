"""A response started before the turn has ended: at a pause in the user's speech, the answer to what was
heard so far is generated (and spoken) with its events held back. When the pause turns out to be the end
of the turn, the held events are released at once, after the turn's own events, and the response goes on
as any other; when the user speaks on, it is dropped and no event of it ever reaches the client.

What keeps it invisible until released: its events wait in `HeldEvents`; what it would add to the
conversation (its items, the items a truncation leaves out) waits in `Staging`; the tokens it used are
charged only once it is released (`DeferredUsage`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from omnivox.realtime.conversation import Conversation, Entry
from omnivox.realtime.responder import Responder, Send
from omnivox.realtime.wire import Event
from omnivox.runtimes.events import UsageReport


class HeldEvents:
    """A response's way out: held in order until `release`, then straight to `send`."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._held: list[Event] | None = []

    async def __call__(self, item: Event) -> None:
        if self._held is not None:
            self._held.append(item)
        else:
            await self._send(item)

    def ended(self) -> str | None:
        """The status of the held `response.done` (None: the response has not ended yet)."""
        for item in self._held or ():
            if item["type"] == "response.done":
                return str(item["response"]["status"])
        return None

    async def release(self) -> None:
        """Send what was held, in order (more may be held while this waits on the outbox), then pass
        the rest straight through."""
        held = self._held or []
        while held:
            await self._send(held.pop(0))
        self._held = None

    def drop(self) -> None:
        self._held = []


class Staging:
    """The conversation as a speculative response sees it: the session's items, then the user's turn
    not committed yet; what the response adds is kept here until `commit`."""

    def __init__(self, conversation: Conversation, turn: Entry) -> None:
        self._conversation = conversation
        self._turn = turn
        self._added: list[Entry] = []
        self._left_out: list[str] = []
        self._committed = False
        self.id = conversation.id

    def context(self) -> list[Entry]:
        if self._committed:
            return self._conversation.context()
        return [*self._conversation.context(), self._turn]

    def add(self, entry: Entry) -> str | None:
        if self._committed:
            return self._conversation.add(entry)
        previous = self._added[-1] if self._added else self._turn
        self._added.append(entry)
        return str(previous.item["id"])

    def leave_out(self, item_ids: Sequence[str]) -> None:
        if self._committed:
            self._conversation.leave_out(item_ids)
        else:
            self._left_out.extend(item_ids)

    def commit(self) -> None:
        """Into the real conversation, where the user's turn has just been added last; from now on
        what the response adds goes there directly."""
        self._conversation.leave_out(self._left_out)
        for entry in self._added:
            self._conversation.add(entry)
        self._committed = True


class DeferredUsage:
    """`on_usage` of a speculative generation (called on the model's worker): forwarded once released,
    never when dropped."""

    def __init__(self, forward: Callable[[UsageReport], None]) -> None:
        self._forward = forward
        self._lock = threading.Lock()
        self._released = False
        self._report: UsageReport | None = None

    def __call__(self, report: UsageReport) -> None:
        with self._lock:
            if not self._released:
                self._report = report
                return
        self._forward(report)

    def release(self) -> None:
        with self._lock:
            self._released, report = True, self._report
        if report is not None:
            self._forward(report)


@dataclass(slots=True)
class Speculation:
    cut: int  # the pause it answers (ms on the input timeline)
    turn: Entry  # the user's item to be committed, heard from `early`
    early: asyncio.Future[tuple[str, float]]
    responder: Responder
    task: asyncio.Task[None]
    events: HeldEvents
    staging: Staging
    usage: DeferredUsage

    def drop(self) -> None:
        """The user spoke on (or the client changed the session): stop it; nothing of it is sent."""
        self.events.drop()
        self.responder.cancel("client_cancelled")
        if self.turn.heard is not None and not self.turn.heard.done():  # let it end (and free the voice)
            self.turn.heard.set_result("")
