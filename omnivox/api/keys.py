"""API keys: `Authorization: Bearer <key>` on /v1/* when keys are configured, and admin keys on the usage
and costs routes (/v1/organization/*), which ordinary keys may not use.

Keys are compared as SHA-256 digests with `hmac.compare_digest`, against every configured key (no early
exit), so the time taken says nothing about how much of a key was right. A key is known elsewhere (logs,
rate-limit buckets, metrics, usage records) only by its label: `key_` (admin keys: `admin_`) and the first
hex digits of its digest.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from omnivox.config import Settings
from omnivox.errors import AuthenticationFailed, PermissionDenied

#: Where the admin keys are asked for instead of the ordinary ones.
ADMIN_PREFIX = "/v1/organization/"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def label_of(key: str, prefix: str = "key_") -> str:
    return prefix + _digest(key).hex()[:12]


def _read_file(path: Path) -> list[str]:
    lines = path.expanduser().read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _check_format(keys: list[str]) -> None:
    if any(not k or any(c.isspace() for c in k) for k in keys):
        raise ValueError("API keys must be non-empty and hold no whitespace")


def _presented(authorization: str | None) -> str:
    scheme, _, presented = (authorization or "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise AuthenticationFailed(
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    return presented


class ApiKeys:
    def __init__(self, keys: list[str], *, prefix: str = "key_") -> None:
        self._digests = [(_digest(k), label_of(k, prefix)) for k in dict.fromkeys(keys)]

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        keys = [k.get_secret_value() for k in settings.api_keys]
        if settings.api_keys_file is not None:
            keys += _read_file(settings.api_keys_file)
        _check_format(keys)
        return cls(keys)

    @property
    def required(self) -> bool:
        return bool(self._digests)

    def find(self, presented: str) -> str | None:
        """The label of `presented` if it is one of these keys."""
        digest = _digest(presented)
        found = None
        for known, label in self._digests:  # all of them, every time
            if hmac.compare_digest(digest, known):
                found = label
        return found

    def check(self, authorization: str | None) -> str:
        """The label of the key in an Authorization header; AuthenticationFailed when there is none or
        it is not one of ours."""
        found = self.find(_presented(authorization))
        if found is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return found


class AdminKeys:
    """The keys of the usage and costs routes (`admin_api_keys`), distinct from the ordinary keys."""

    def __init__(self, admin: ApiKeys, ordinary: ApiKeys) -> None:
        self._admin = admin
        self._ordinary = ordinary

    @classmethod
    def from_settings(cls, settings: Settings, ordinary: ApiKeys) -> AdminKeys:
        keys = [k.get_secret_value() for k in settings.admin_api_keys]
        _check_format(keys)
        if any(ordinary.find(k) is not None for k in keys):
            raise ValueError("admin_api_keys must differ from the ordinary API keys")
        return cls(ApiKeys(keys, prefix="admin_"), ordinary)

    def check(self, authorization: str | None) -> str:
        """The admin key's label; 401 without a key or with an unknown one, 403 with an ordinary key or
        when no admin key is configured."""
        if not self._admin.required:
            raise PermissionDenied(
                "The usage and costs API needs an admin key, and this server has none (`admin_api_keys`)."
            )
        presented = _presented(authorization)
        found = self._admin.find(presented)
        if found is not None:
            return found
        if self._ordinary.find(presented) is not None:
            raise PermissionDenied(
                "You have insufficient permissions for this operation: it needs an admin key, not an API key."
            )
        raise AuthenticationFailed("Incorrect API key provided.")
