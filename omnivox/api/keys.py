"""API keys: `Authorization: Bearer <key>` on /v1/* when keys are configured.

Keys are compared as SHA-256 digests with `hmac.compare_digest`, against every configured key (no early
exit), so the time taken says nothing about how much of a key was right. A key is known elsewhere (logs,
rate-limit buckets, metrics) only by its label: `key_` and the first hex digits of its digest.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from omnivox.config import Settings
from omnivox.errors import AuthenticationFailed


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def label_of(key: str) -> str:
    return "key_" + _digest(key).hex()[:12]


def _read_file(path: Path) -> list[str]:
    lines = path.expanduser().read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


class ApiKeys:
    def __init__(self, keys: list[str]) -> None:
        self._digests = [(_digest(k), label_of(k)) for k in dict.fromkeys(keys)]

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        keys = [k.get_secret_value() for k in settings.api_keys]
        if settings.api_keys_file is not None:
            keys += _read_file(settings.api_keys_file)
        if any(not k or any(c.isspace() for c in k) for k in keys):
            raise ValueError("API keys must be non-empty and hold no whitespace")
        return cls(keys)

    @property
    def required(self) -> bool:
        return bool(self._digests)

    def check(self, authorization: str | None) -> str:
        """The label of the key in an Authorization header; AuthenticationFailed when there is none or
        it is not one of ours."""
        scheme, _, presented = (authorization or "").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            raise AuthenticationFailed(
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        digest = _digest(presented)
        found = None
        for known, label in self._digests:  # all of them, every time
            if hmac.compare_digest(digest, known):
                found = label
        if found is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return found
