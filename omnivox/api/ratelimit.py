"""Requests and tokens per minute, per client (an API key's label, or the client address when no keys are
configured), as token buckets that refill continuously: a client may burst up to a minute's budget, then
goes at the configured rate.

A request needs one request from its bucket and, on /v1/chat/completions, a token budget above zero; the
tokens it used (prompt + completion) are charged when it ends, so the bucket can go below zero and the
next request waits until it has refilled. Every /v1 response carries OpenAI's `x-ratelimit-*` headers;
a 429 carries `retry-after` and `retry-after-ms`, which the `openai` SDK waits for before it retries.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from omnivox.config import RateLimitSettings
from omnivox.errors import RateLimited, TokenRateLimited

#: Buckets of clients that are back at full budget are forgotten when there are more than this many.
_PRUNE_ABOVE = 10_000


@dataclass
class _Bucket:
    capacity: float
    per_second: float
    level: float
    stamp: float

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.per_second)
        self.stamp = now

    def seconds_until(self, level: float) -> float:
        return max(0.0, (level - self.level) / self.per_second)


def duration(seconds: float) -> str:
    """OpenAI's reset format: `20ms`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{rest_text}s" if minutes else f"{rest_text}s"


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._rpm = settings.requests_per_minute
        self._tpm = settings.tokens_per_minute
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self._rpm is not None or self._tpm is not None

    def _bucket(self, client: str, kind: str, limit: int, now: float) -> _Bucket:
        bucket = self._buckets.get((client, kind))
        if bucket is None:
            if len(self._buckets) > _PRUNE_ABOVE:
                self._prune(now)
            bucket = self._buckets[(client, kind)] = _Bucket(limit, limit / 60.0, float(limit), now)
        bucket.refill(now)
        return bucket

    def _prune(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            bucket.refill(now)
            if bucket.level >= bucket.capacity:
                del self._buckets[key]

    def admit(self, client: str, *, uses_tokens: bool) -> None:
        """Take one request from the client's budget, or raise 429 (with its headers) taking nothing."""
        now = self._clock()
        requests = self._bucket(client, "requests", self._rpm, now) if self._rpm else None
        tokens = self._bucket(client, "tokens", self._tpm, now) if self._tpm and uses_tokens else None
        if requests is not None and requests.level < 1:
            wait = requests.seconds_until(1)
            raise RateLimited(
                f"Rate limit reached for requests per minute (RPM): Limit {self._rpm}. "
                f"Please try again in {duration(wait)}.",
                headers=self._retry_headers(client, wait),
            )
        if tokens is not None and tokens.level <= 0:
            wait = tokens.seconds_until(1)
            raise TokenRateLimited(
                f"Rate limit reached for tokens per minute (TPM): Limit {self._tpm}, Used "
                f"{math.ceil(tokens.capacity - tokens.level)}. Please try again in {duration(wait)}.",
                headers=self._retry_headers(client, wait),
            )
        if requests is not None:
            requests.level -= 1

    def charge(self, client: str, tokens: int) -> None:
        if self._tpm and tokens > 0:
            self._bucket(client, "tokens", self._tpm, self._clock()).level -= tokens

    def headers(self, client: str) -> dict[str, str]:
        """OpenAI's `x-ratelimit-*` headers for the client's budgets now."""
        now = self._clock()
        found: dict[str, str] = {}
        for kind, limit in (("requests", self._rpm), ("tokens", self._tpm)):
            if limit:
                bucket = self._bucket(client, kind, limit, now)
                found[f"x-ratelimit-limit-{kind}"] = str(limit)
                found[f"x-ratelimit-remaining-{kind}"] = str(max(0, math.floor(bucket.level)))
                found[f"x-ratelimit-reset-{kind}"] = duration(bucket.seconds_until(bucket.capacity))
        return found

    def _retry_headers(self, client: str, wait: float) -> dict[str, str]:
        return {
            **self.headers(client),
            "retry-after": str(max(1, math.ceil(wait))),
            "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
        }
