"""`omnivox usage`: the usage records as a table, per period (UTC), API key label and model, with what
each costs at the configured prices (exact decimals, shown rounded to a millionth of a dollar)."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from pydantic import ValidationError

from omnivox.config import load_settings
from omnivox.storage.usage_store import BucketRow, SQLiteUsageStore, UsageStore
from omnivox.usage.counts import SURFACES, Usage
from omnivox.usage.pricing import Prices

PERIODS = {"day": (86_400, "%Y-%m-%d"), "hour": (3_600, "%Y-%m-%d %H:00"), "minute": (60, "%Y-%m-%d %H:%M")}
_COLUMNS = (
    "period",
    "api key",
    "model",
    "requests",
    "input",
    "cached",
    "audio in",
    "output",
    "audio out",
    "heard s",
    "spoken s",
    "chars",
    "cost $",
)
_MICRO = Decimal("0.000001")


def _dollars(amount: Decimal) -> str:
    return str(amount.quantize(_MICRO, rounding=ROUND_HALF_UP))


def _cells(label: str, key: str, model: str, usage: Usage, cost: Decimal) -> list[str]:
    return [
        label,
        key,
        model,
        str(usage.requests),
        str(usage.input_tokens),
        str(usage.input_cached_tokens),
        str(usage.input_audio_tokens),
        str(usage.output_tokens),
        str(usage.output_audio_tokens),
        f"{Decimal(usage.audio_ms_in) / 1000:.3f}",
        f"{Decimal(usage.audio_ms_out) / 1000:.3f}",
        str(usage.characters),
        _dollars(cost),
    ]


def render(rows: Sequence[BucketRow], prices: Prices, start: int, period: str) -> str:
    """Rows of `store.buckets(...)` from `start` in buckets of `period`, then a total line."""
    width, shape = PERIODS[period]
    lines = [list(_COLUMNS)]
    total, total_cost = Usage(), Decimal(0)
    for row in rows:
        cost = prices.cost(row.model, row.usage)
        label = datetime.fromtimestamp(start + row.bucket * width, UTC).strftime(shape)
        lines.append(_cells(label, row.api_key or "-", row.model, row.usage, cost))
        total, total_cost = total + row.usage, total_cost + cost
    lines.append(_cells("total", "", "", total, total_cost))
    widths = [max(len(line[i]) for line in lines) for i in range(len(_COLUMNS))]
    text = [
        "  ".join(
            cell.ljust(w) if i < 3 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    return "\n".join(line.rstrip() for line in text) + "\n"


def usage_table(
    store: UsageStore, prices: Prices, *, days: int, period: str, now: float | None = None
) -> str:
    """The last `days` UTC days (today included), in buckets of `period`."""
    width, _ = PERIODS[period]
    today = int(time.time() if now is None else now) // 86_400 * 86_400
    start = today - (days - 1) * 86_400
    rows = store.buckets(SURFACES, start, today + 86_400, width)
    return render(rows, prices, start, period)


def show_usage(config: Path | None, *, days: int, period: str) -> int:
    """`omnivox usage`: print the table of the store the settings name; the exit status."""
    try:
        settings = load_settings(config)
    except (ValidationError, OSError, ValueError) as exc:
        print(f"omnivox: invalid settings: {exc}", file=sys.stderr)
        return 2
    path = settings.usage.store_path(settings.synthesis.store).expanduser()
    if not path.exists():
        print(f"omnivox: no usage recorded yet ({path} does not exist)", file=sys.stderr)
        return 1
    store = SQLiteUsageStore(path)
    try:
        prices = Prices(settings.usage.price_table())
        print(usage_table(store, prices, days=max(1, days), period=period), end="")
    finally:
        store.close()
    return 0
