"""The pieces that keep a speculative Realtime answer invisible until it is released
(omnivox.realtime.speculation): held events, the staged conversation, deferred usage."""

from __future__ import annotations

import asyncio
from typing import Any

from omnivox.realtime.conversation import Conversation, Entry
from omnivox.realtime.speculation import DeferredUsage, HeldEvents, Staging
from omnivox.runtimes.events import UsageReport


def _item(item_id: str, role: str = "user") -> Entry:
    return Entry({"id": item_id, "type": "message", "role": role, "content": []})


def test_held_events_leave_in_order_on_release_and_pass_through_after() -> None:
    sent: list[dict[str, Any]] = []

    async def slow_send(item: dict[str, Any]) -> None:
        await asyncio.sleep(0)  # the outbox may make the release wait
        sent.append(item)

    async def scenario() -> None:
        held = HeldEvents(slow_send)
        await held({"type": "response.created", "response": {"status": "in_progress"}})
        await held({"type": "response.output_item.added"})
        assert sent == [] and held.ended() is None
        release = asyncio.create_task(held.release())
        await asyncio.sleep(0)
        await held({"type": "response.content_part.added"})  # written while the release runs
        await release
        await held({"type": "response.done", "response": {"status": "completed"}})

    asyncio.run(scenario())
    assert [e["type"] for e in sent] == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.done",
    ]


def test_dropped_events_are_never_sent() -> None:
    sent: list[dict[str, Any]] = []

    async def send(item: dict[str, Any]) -> None:
        sent.append(item)

    async def scenario() -> str | None:
        held = HeldEvents(send)
        await held({"type": "response.done", "response": {"status": "failed"}})
        status = held.ended()
        held.drop()
        await held({"type": "response.done", "response": {"status": "cancelled"}})
        return status

    assert asyncio.run(scenario()) == "failed"
    assert sent == []


def test_staging_reads_the_turn_last_and_adds_to_the_conversation_only_on_commit() -> None:
    conversation = Conversation(100)
    conversation.add(_item("item_old"))
    turn = _item("item_turn")
    staging = Staging(conversation, turn)
    assert [e.item["id"] for e in staging.context()] == ["item_old", "item_turn"]
    assert staging.add(_item("item_answer", "assistant")) == "item_turn"
    assert staging.add(_item("item_call", "assistant")) == "item_answer"
    staging.leave_out(["item_old"])
    assert [e.item["id"] for e in conversation.entries()] == ["item_old"]  # nothing seen yet
    assert [e.item["id"] for e in conversation.context()] == ["item_old"]

    conversation.add(turn)  # the commit of the user's turn, then the release
    staging.commit()
    assert [e.item["id"] for e in conversation.entries()] == [
        "item_old",
        "item_turn",
        "item_answer",
        "item_call",
    ]
    assert [e.item["id"] for e in conversation.context()] == ["item_turn", "item_answer", "item_call"]
    assert staging.add(_item("item_late", "assistant")) == "item_call"  # straight through now
    assert conversation.last_id() == "item_late"


def test_usage_is_forwarded_only_once_released() -> None:
    forwarded: list[UsageReport] = []
    report = UsageReport(30, 5, 0)
    dropped = DeferredUsage(forwarded.append)
    dropped(report)
    assert forwarded == []
    early = DeferredUsage(forwarded.append)
    early(report)  # the generation ended before the turn did
    early.release()
    late = DeferredUsage(forwarded.append)
    late.release()
    late(report)
    assert forwarded == [report, report]
