"""API keys and rate-limit buckets, without a server (a fake clock)."""

from __future__ import annotations

import pytest

from omnivox.api.keys import ApiKeys, label_of
from omnivox.api.ratelimit import RateLimiter, duration
from omnivox.config import RateLimitSettings, Settings
from omnivox.errors import AuthenticationFailed, RateLimited, TokenRateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_keys_accept_configured_keys_only() -> None:
    keys = ApiKeys(["sk-one", "sk-two"])
    assert keys.required
    assert keys.check("Bearer sk-two") == label_of("sk-two")
    assert keys.check("bearer sk-one") == label_of("sk-one")
    for header in (None, "", "Bearer", "Bearer ", "Basic sk-one", "Bearer sk-on", "Bearer sk-one2"):
        with pytest.raises(AuthenticationFailed) as caught:
            keys.check(header)
        assert caught.value.status == 401 and caught.value.code == "invalid_api_key"
    assert "sk-" not in label_of("sk-one")


def test_keys_from_settings_and_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "keys"
    path.write_text("# ops keys\nsk-file-1\n\n  sk-file-2  \n")
    keys = ApiKeys.from_settings(Settings(api_keys=["sk-env"], api_keys_file=path))
    for key in ("sk-env", "sk-file-1", "sk-file-2"):
        assert keys.check(f"Bearer {key}") == label_of(key)
    assert not ApiKeys.from_settings(Settings()).required
    path.write_text("sk bad\n")
    with pytest.raises(ValueError, match="whitespace"):
        ApiKeys.from_settings(Settings(api_keys_file=path))


def test_requests_per_minute_bucket_refills_continuously() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimitSettings(requests_per_minute=3), clock)
    for _ in range(3):
        limiter.admit("a", uses_tokens=False)
    with pytest.raises(RateLimited) as caught:
        limiter.admit("a", uses_tokens=False)
    assert caught.value.status == 429 and caught.value.code == "rate_limit_exceeded"
    assert caught.value.error_type == "requests"
    assert caught.value.headers["retry-after-ms"] == "20000"  # 3/min: one request every 20 s
    assert caught.value.headers["retry-after"] == "20"
    assert caught.value.headers["x-ratelimit-remaining-requests"] == "0"
    limiter.admit("b", uses_tokens=False)  # another client has its own budget
    clock.now += 19.9
    with pytest.raises(RateLimited):
        limiter.admit("a", uses_tokens=False)
    clock.now += 0.1
    limiter.admit("a", uses_tokens=False)
    assert limiter.headers("a") == {
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
    }


def test_tokens_are_charged_after_the_request_and_block_until_refilled() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimitSettings(tokens_per_minute=600), clock)  # 10 tokens a second
    limiter.admit("a", uses_tokens=True)
    limiter.charge("a", 650)  # the answer was larger than the budget left: the bucket goes below zero
    limiter.admit("a", uses_tokens=False)  # routes that use no tokens are not held back
    with pytest.raises(TokenRateLimited) as caught:
        limiter.admit("a", uses_tokens=True)
    assert caught.value.error_type == "tokens"
    assert caught.value.headers["retry-after-ms"] == "5100"  # from -50 back to +1 at 10 tokens/s
    clock.now += 6.0
    limiter.admit("a", uses_tokens=True)
    assert limiter.headers("a")["x-ratelimit-remaining-tokens"] == "10"


def test_no_limits_configured_admits_everything() -> None:
    limiter = RateLimiter(RateLimitSettings())
    assert not limiter.enabled
    for _ in range(1000):
        limiter.admit("a", uses_tokens=True)
    assert limiter.headers("a") == {}


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.0204, "21ms"), (1.5, "1.5s"), (20, "20s"), (360, "6m0s"), (61.25, "1m1.25s")]
)
def test_reset_durations_in_openai_format(seconds: float, text: str) -> None:
    assert duration(seconds) == text
