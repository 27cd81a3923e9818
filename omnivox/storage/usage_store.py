"""Usage counts per minute, surface, model and API key label: rows that only ever grow, by addition.

Each batch is one transaction of upserts (`count = count + excluded.count`), so concurrent writers (two
processes on one file included) never lose a count, and a crash leaves whole batches or none.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from omnivox.usage.counts import FIELDS, Surface, Usage

#: Stands for "no API key" (a server with none configured) in the key column, which is part of the key.
NO_KEY = ""


@dataclass(frozen=True, slots=True)
class UsageKey:
    minute: int  # unix seconds, a multiple of 60
    surface: Surface
    model: str
    api_key: str | None  # the key's label; None: no key


@dataclass(frozen=True, slots=True)
class BucketRow:
    """Usage of one model and key within one bucket of a query."""

    bucket: int  # index of the bucket, from the query's start
    model: str
    api_key: str | None
    usage: Usage


class UsageStore(Protocol):
    def add(self, batch: Iterable[tuple[UsageKey, Usage]]) -> None:
        """Add every count of the batch, in one transaction."""
        ...

    def buckets(
        self,
        surfaces: Sequence[Surface],
        start: int,
        end: int,
        width: int,
        *,
        models: Sequence[str] | None = None,
        api_keys: Sequence[str] | None = None,
    ) -> list[BucketRow]:
        """Usage of minutes in [start, end), summed per bucket of `width` seconds (from `start`), model and
        key; only the given models and key labels when those are not None."""
        ...

    def close(self) -> None: ...


_COLUMNS = ", ".join(FIELDS)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS usage (
    minute INTEGER NOT NULL,
    surface TEXT NOT NULL,
    model TEXT NOT NULL,
    api_key TEXT NOT NULL,
    {", ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name in FIELDS)},
    PRIMARY KEY (minute, surface, model, api_key)
);
"""
_UPSERT = (
    f"INSERT INTO usage (minute, surface, model, api_key, {_COLUMNS}) "
    f"VALUES (?, ?, ?, ?, {', '.join('?' for _ in FIELDS)}) "
    "ON CONFLICT (minute, surface, model, api_key) DO UPDATE SET "
    + ", ".join(f"{name} = {name} + excluded.{name}" for name in FIELDS)
)


def _in(column: str, values: Sequence[str] | None) -> tuple[str, list[str]]:
    if values is None:
        return "", []
    return f" AND {column} IN ({', '.join('?' for _ in values)})", list(values)


class SQLiteUsageStore:
    """One SQLite file (WAL: readers never wait for the writer)."""

    def __init__(self, path: Path) -> None:
        path = path.expanduser()
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def add(self, batch: Iterable[tuple[UsageKey, Usage]]) -> None:
        rows = [
            (k.minute, k.surface, k.model, k.api_key or NO_KEY, *(getattr(u, n) for n in FIELDS))
            for k, u in batch
        ]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(_UPSERT, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def buckets(
        self,
        surfaces: Sequence[Surface],
        start: int,
        end: int,
        width: int,
        *,
        models: Sequence[str] | None = None,
        api_keys: Sequence[str] | None = None,
    ) -> list[BucketRow]:
        in_surfaces, surface_args = _in("surface", surfaces)
        in_models, model_args = _in("model", models)
        in_keys, key_args = _in("api_key", api_keys)
        sums = ", ".join(f"SUM({name})" for name in FIELDS)
        query = (
            f"SELECT (minute - ?) / ?, model, api_key, {sums} FROM usage "
            f"WHERE minute >= ? AND minute < ?{in_surfaces}{in_models}{in_keys} "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
        args = [start, width, start, end, *surface_args, *model_args, *key_args]
        with self._lock:
            found = self._db.execute(query, args).fetchall()
        return [
            BucketRow(bucket, model, key or None, Usage(*counts)) for bucket, model, key, *counts in found
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()
