"""A usage or costs query -> one page of time buckets, in the shapes of OpenAI's Usage and Costs APIs.

Buckets start at `start_time` and follow each other every `bucket_width` until `end_time` (the last one
ends there); usage is kept per minute and counts in the bucket that holds the minute's start. A page holds
`limit` buckets, empty ones included; `next_page` is the cursor of the next. omnivox has no projects, users
or batch jobs: filtering on them finds nothing, grouping by them gives null (batch: false, service tier:
`default`).
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from omnivox.errors import InvalidRequest
from omnivox.protocol.usage import (
    AudioSpeechesResult,
    AudioTranscriptionsResult,
    CompletionsQuery,
    CompletionsResult,
    CostAmount,
    CostsQuery,
    CostsResult,
    Result,
    UsageBucket,
    UsagePage,
    UsageQuery,
)
from omnivox.storage.usage_store import BucketRow
from omnivox.usage.counts import SURFACES, Surface, Usage
from omnivox.usage.pricing import Prices

WIDTHS = {"1m": 60, "1h": 3600, "1d": 86400}
DEFAULT_LIMITS = {"1m": 60, "1h": 24, "1d": 7}
MAX_LIMITS = {"1m": 1440, "1h": 168, "1d": 31}
COSTS_DEFAULT_LIMIT, COSTS_MAX_LIMIT = 7, 180


class BucketSource(Protocol):
    def buckets(
        self,
        surfaces: Sequence[Surface],
        start: int,
        end: int,
        width: int,
        *,
        models: Sequence[str] | None = None,
        api_keys: Sequence[str] | None = None,
    ) -> list[BucketRow]: ...


@dataclass(frozen=True, slots=True)
class Window:
    """The buckets of one page: indices first .. first + count - 1 of the query's range."""

    start: int
    end: int
    width: int
    first: int
    count: int
    more: bool

    def bucket_start(self, index: int) -> int:
        return self.start + index * self.width

    def bucket_end(self, index: int) -> int:
        return min(self.bucket_start(index + 1), self.end)


def window(query: UsageQuery | CompletionsQuery | CostsQuery, now: int, default: int, most: int) -> Window:
    end = query.end_time if query.end_time is not None else now
    if end <= query.start_time:
        raise InvalidRequest(
            "`end_time` must be later than `start_time`.",
            param="end_time" if query.end_time is not None else "start_time",
        )
    if query.limit is not None and query.limit > most:
        raise InvalidRequest(
            f"`limit` can be at most {most} with bucket_width {query.bucket_width}.", param="limit"
        )
    width = WIDTHS[query.bucket_width]
    total = -(-(end - query.start_time) // width)
    first = _page_index(query.page, total)
    count = min(query.limit or default, total - first)
    return Window(query.start_time, end, width, first, count, first + count < total)


def cursor(index: int) -> str:
    return "page_" + base64.urlsafe_b64encode(str(index).encode()).decode()


def _page_index(page: str | None, total: int) -> int:
    if page is None:
        return 0
    try:
        raw = page.removeprefix("page_").encode("ascii").translate(bytes.maketrans(b"-_", b"+/"))
        index = int(base64.b64decode(raw, validate=True))
    except (ValueError, binascii.Error, UnicodeError):
        index = -1
    if not page.startswith("page_") or not 0 <= index < total:
        raise InvalidRequest("`page` is not a cursor of this query's pages.", param="page")
    return index


def _rows(
    source: BucketSource,
    surfaces: Sequence[Surface],
    query: UsageQuery | CompletionsQuery | CostsQuery,
    span: Window,
) -> list[BucketRow]:
    if query.project_ids is not None or getattr(query, "user_ids", None) is not None:
        return []
    if getattr(query, "batch", None):
        return []
    start, end = span.bucket_start(span.first), span.bucket_end(span.first + span.count - 1)
    models = getattr(query, "models", None)
    return source.buckets(surfaces, start, end, span.width, models=models, api_keys=query.api_key_ids)


def _group(row: BucketRow, group_by: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    known: dict[str, Any] = {
        "api_key_id": row.api_key,
        "model": row.model,
        "batch": False,
        "service_tier": "default",
        "project_id": None,
        "user_id": None,
    }
    return tuple((field, known[field]) for field in dict.fromkeys(group_by))


def _order(item: tuple[tuple[int, tuple[tuple[str, Any], ...]], object]) -> tuple[Any, ...]:
    (bucket, fields), _ = item
    return (bucket, *((value is not None, str(value)) for _, value in fields))


def _page(span: Window, results: dict[int, list[Result]]) -> UsagePage:
    buckets = [
        UsageBucket(
            start_time=span.bucket_start(i),
            end_time=span.bucket_end(i),
            results=results.get(i - span.first, []),
        )
        for i in range(span.first, span.first + span.count)
    ]
    return UsagePage(
        data=buckets, has_more=span.more, next_page=cursor(span.first + span.count) if span.more else None
    )


def _completions(usage: Usage, fields: dict[str, Any]) -> CompletionsResult:
    cached_text = usage.input_cached_tokens - usage.input_cached_audio_tokens
    return CompletionsResult(
        input_tokens=usage.input_tokens,
        input_cached_tokens=usage.input_cached_tokens,
        input_cache_write_tokens=0,
        input_uncached_tokens=usage.input_tokens - usage.input_cached_tokens,
        output_tokens=usage.output_tokens,
        input_text_tokens=usage.input_tokens - usage.input_audio_tokens - cached_text,
        output_text_tokens=usage.output_tokens - usage.output_audio_tokens,
        input_cached_text_tokens=cached_text,
        input_audio_tokens=usage.input_audio_tokens - usage.input_cached_audio_tokens,
        input_cached_audio_tokens=usage.input_cached_audio_tokens,
        output_audio_tokens=usage.output_audio_tokens,
        input_image_tokens=0,
        input_cached_image_tokens=0,
        output_image_tokens=0,
        num_model_requests=usage.requests,
        **fields,
    )


def _speeches(usage: Usage, fields: dict[str, Any]) -> AudioSpeechesResult:
    return AudioSpeechesResult(characters=usage.characters, num_model_requests=usage.requests, **fields)


def _transcriptions(usage: Usage, fields: dict[str, Any]) -> AudioTranscriptionsResult:
    seconds = (usage.audio_ms_in + 500) // 1000  # whole seconds, half up
    return AudioTranscriptionsResult(seconds=seconds, num_model_requests=usage.requests, **fields)


_RESULTS: dict[Surface, Callable[[Usage, dict[str, Any]], Result]] = {
    "completions": _completions,
    "audio_speeches": _speeches,
    "audio_transcriptions": _transcriptions,
}


def usage_page(
    source: BucketSource, surface: Surface, query: UsageQuery | CompletionsQuery, now: int
) -> UsagePage:
    span = window(query, now, DEFAULT_LIMITS[query.bucket_width], MAX_LIMITS[query.bucket_width])
    sums: dict[tuple[int, tuple[tuple[str, Any], ...]], Usage] = defaultdict(Usage)
    for row in _rows(source, [surface], query, span):
        key = (row.bucket, _group(row, query.group_by or ()))
        sums[key] = sums[key] + row.usage
    results: dict[int, list[Result]] = defaultdict(list)
    for (bucket, fields), usage in sorted(sums.items(), key=_order):
        results[bucket].append(_RESULTS[surface](usage, dict(fields)))
    return _page(span, results)


@dataclass(slots=True)
class _Cost:
    amount: Decimal = Decimal(0)
    quantity: Decimal = Decimal(0)
    unit: str | None = None


def costs_page(source: BucketSource, prices: Prices, query: CostsQuery, now: int) -> UsagePage:
    span = window(query, now, COSTS_DEFAULT_LIMIT, COSTS_MAX_LIMIT)
    group_by = dict.fromkeys(query.group_by or ())
    costs: dict[tuple[int, tuple[tuple[str, Any], ...]], _Cost] = defaultdict(_Cost)
    for row in _rows(source, SURFACES, query, span):
        for item in prices.line_items(row.model, row.usage):
            known = {"line_item": item.named(row.model), "api_key_id": row.api_key, "project_id": None}
            cost = costs[(row.bucket, tuple((field, known[field]) for field in group_by))]
            cost.amount += item.amount
            cost.quantity += item.quantity
            cost.unit = item.unit
    itemised = "line_item" in group_by
    results: dict[int, list[Result]] = defaultdict(list)
    for (bucket, fields), cost in sorted(costs.items(), key=_order):
        results[bucket].append(
            CostsResult(
                amount=CostAmount(value=float(cost.amount)),
                quantity=float(cost.quantity) if itemised else None,
                quantity_unit=cost.unit if itemised else None,
                **dict(fields),
            )
        )
    return _page(span, results)
