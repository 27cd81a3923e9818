"""Spoken answers by audio id, until they expire: the transcript (what a later turn needs) and the audio
as sent."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredAudio:
    id: str
    transcript: str
    format: str
    data: bytes
    expires_at: int  # unix seconds


class AudioStore(Protocol):
    def put(self, audio: StoredAudio) -> None: ...

    def get(self, audio_id: str, now: float | None = None) -> StoredAudio | None:
        """The entry, or None when unknown or expired."""
        ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audio (
    id TEXT PRIMARY KEY,
    transcript TEXT NOT NULL,
    format TEXT NOT NULL,
    data BLOB NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audio_expiry ON audio (expires_at);
"""


class SQLiteAudioStore:
    """One SQLite file (WAL, so readers never wait on the writer); expired rows are purged on write.
    Each write is one transaction, so a crash leaves the store consistent."""

    def __init__(self, path: Path) -> None:
        path = path.expanduser()
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    def put(self, audio: StoredAudio) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM audio WHERE expires_at <= ?", (int(time.time()),))
            self._db.execute(
                "INSERT OR REPLACE INTO audio VALUES (?, ?, ?, ?, ?)",
                (audio.id, audio.transcript, audio.format, audio.data, audio.expires_at),
            )
            self._db.execute("COMMIT")

    def get(self, audio_id: str, now: float | None = None) -> StoredAudio | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, transcript, format, data, expires_at FROM audio WHERE id = ? AND expires_at > ?",
                (audio_id, int(time.time() if now is None else now)),
            ).fetchone()
        return None if row is None else StoredAudio(*row)

    def close(self) -> None:
        with self._lock:
            self._db.close()
