"""Usage accounting without a server: the recorder's counts under concurrency and store failures, the SQLite
store shared by two writers, exact decimal prices, and the `omnivox usage` table."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from omnivox.cli import main
from omnivox.storage.usage_store import BucketRow, SQLiteUsageStore, UsageKey
from omnivox.usage.counts import SURFACES, Surface, Usage, chat_usage
from omnivox.usage.pricing import Prices
from omnivox.usage.recorder import UsageRecorder
from omnivox.usage.settings import DEFAULT_PRICES, ModelPrice, UsageSettings

DAY = 86_400
NOW = 1_767_225_600 + 3_600  # 2026-01-01 01:00 UTC


def _totals(store: SQLiteUsageStore) -> dict[tuple[str, str | None], Usage]:
    rows = store.buckets(SURFACES, 0, NOW + DAY, 10 * DAY)
    return {(row.model, row.api_key): row.usage for row in rows}


def test_concurrent_records_and_flushes_lose_nothing(tmp_path: Path) -> None:
    store = SQLiteUsageStore(tmp_path / "usage.sqlite3")
    recorder = UsageRecorder(store, flush_seconds=0.001, clock=lambda: NOW)  # flushing all the time
    one = chat_usage(prompt=7, completion=3, cached=2, audio=1)

    def client(key: str) -> None:
        for _ in range(2_000):
            recorder.record(key, "completions", "m", one)

    threads = [threading.Thread(target=client, args=(f"key_{i % 3}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    found = _totals(SQLiteUsageStore(tmp_path / "usage.sqlite3"))
    for key in ("key_0", "key_1", "key_2"):
        usage = found[("m", key)]
        assert (usage.requests, usage.input_tokens, usage.output_tokens) == (4_000, 28_000, 12_000)
        assert (usage.input_cached_tokens, usage.input_audio_tokens) == (8_000, 4_000)


class _Flaky:
    """A store that refuses its first batch (a full disk, a locked file)."""

    def __init__(self, inner: SQLiteUsageStore) -> None:
        self.inner = inner
        self.refused = 0

    def add(self, batch: Iterable[tuple[UsageKey, Usage]]) -> None:
        if not self.refused:
            self.refused += 1
            raise OSError("disk full")
        self.inner.add(batch)

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
        return self.inner.buckets(surfaces, start, end, width, models=models, api_keys=api_keys)

    def close(self) -> None:
        self.inner.close()


def test_a_refused_batch_is_kept_for_the_next_one() -> None:
    store = _Flaky(SQLiteUsageStore(Path(":memory:")))
    recorder = UsageRecorder(store, flush_seconds=3_600, clock=lambda: NOW)
    recorder.record("key_a", "audio_speeches", "tts-1", Usage(requests=1, characters=10))
    with pytest.raises(OSError):
        recorder.flush()
    recorder.record("key_a", "audio_speeches", "tts-1", Usage(requests=1, characters=5))
    (row,) = recorder.buckets(SURFACES, 0, NOW + DAY, DAY * 365)  # flushes first
    assert (row.usage.requests, row.usage.characters) == (2, 15)
    recorder.close()


def test_two_writers_on_one_file_add_up(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    stores = [SQLiteUsageStore(path), SQLiteUsageStore(path)]  # as two server processes would
    key = UsageKey(NOW // 60 * 60, "audio_transcriptions", "whisper-1", None)

    def write(store: SQLiteUsageStore) -> None:
        for _ in range(200):
            store.add([(key, Usage(requests=1, audio_ms_in=1_500))])

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _totals(stores[0])[("whisper-1", None)] == Usage(requests=400, audio_ms_in=600_000)
    for store in stores:
        store.close()


def test_cached_tokens_count_as_text_first() -> None:
    assert chat_usage(prompt=100, completion=5, cached=60, audio=30).input_cached_audio_tokens == 0
    assert chat_usage(prompt=100, completion=5, cached=90, audio=30).input_cached_audio_tokens == 20


def test_prices_are_exact_and_fall_back_to_the_general_rate() -> None:
    prices = Prices(
        UsageSettings(
            prices={"m": ModelPrice(input=Decimal("0.1"), output=Decimal("0.3"), audio_output=Decimal("0.7"))}
        ).price_table()
    )
    usage = Usage(
        input_tokens=3, input_cached_tokens=1, input_audio_tokens=1, output_tokens=3, output_audio_tokens=1
    )
    items = {item.kind: item.amount for item in prices.line_items("m", usage)}
    million = Decimal(1_000_000)
    assert items == {
        "input": Decimal("0.1") / million,
        "cached input": Decimal("0.1") / million,  # no cached price: the input price
        "audio input": Decimal("0.1") / million,  # no audio price: the input price
        "output": Decimal("0.6") / million,
        "audio output": Decimal("0.7") / million,
    }
    assert prices.cost("m", usage) == Decimal("1.6") / million  # 0.1 + 0.1 + 0.1 + 0.6 + 0.7, exactly
    assert prices.cost("unpriced", usage) == 0
    # the defaults stay beside a configured model
    assert prices.of("gpt-4o-audio-preview") == DEFAULT_PRICES["gpt-4o-audio-preview"]
    assert prices.of("gpt-4o-audio-preview").input == Decimal("2.50")
    heard = prices.line_items("whisper-1", Usage(audio_ms_in=90_000))
    assert [(i.kind, i.quantity, i.unit, i.amount) for i in heard] == [
        ("transcription", Decimal(90), "duration_seconds", Decimal("0.009"))
    ]


def test_the_usage_command_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_path = tmp_path / "usage.sqlite3"
    store = SQLiteUsageStore(store_path)
    today = int(time.time()) // DAY * DAY  # the table shows the days up to the real today
    store.add(
        [
            (
                UsageKey(today + 60, "completions", "gpt-4o-audio-preview", "key_aaaaaaaaaaaa"),
                chat_usage(1000, 200, 0, 0),
            ),
            (
                UsageKey(today + 120, "audio_speeches", "tts-1", None),
                Usage(requests=1, characters=40, audio_ms_out=2500),
            ),
            (UsageKey(today - 30 * DAY, "completions", "old", None), chat_usage(5, 5, 0, 0)),  # long ago
        ]
    )
    store.close()
    config = tmp_path / "omnivox.toml"
    config.write_text(f'[usage]\nstore = "{store_path}"\n')
    assert main(["usage", "--config", str(config), "--days", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["period", "api", "key"]
    body = {tuple(line.split()[1:3]): line.split() for line in lines[1:-1]}
    assert set(body) == {("key_aaaaaaaaaaaa", "gpt-4o-audio-preview"), ("-", "tts-1")}
    chat = body[("key_aaaaaaaaaaaa", "gpt-4o-audio-preview")]
    assert chat[3:5] == ["1", "1000"] and chat[-1] == "0.004500"  # 1000 x 2.50 + 200 x 10.00 per million
    assert body[("-", "tts-1")][-1] == "0.000600"  # 40 characters x 15.00 per million
    assert lines[-1].split()[0] == "total" and lines[-1].split()[-1] == "0.005100"


def test_the_usage_command_without_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "omnivox.toml"
    config.write_text(f'[usage]\nstore = "{tmp_path / "none.sqlite3"}"\n')
    assert main(["usage", "--config", str(config)]) == 1
    assert "no usage recorded yet" in capsys.readouterr().err


def test_serve_refuses_an_admin_key_that_is_an_api_key_before_loading(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OMNIVOX_API_KEYS", '["sk-same-0123456789"]')
    monkeypatch.setenv("OMNIVOX_ADMIN_API_KEYS", '["sk-same-0123456789"]')
    monkeypatch.setenv("OMNIVOX_MODELS", '[{"id": "x", "source": "/nonexistent.gguf"}]')  # never loaded
    assert main(["serve", "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert "admin_api_keys" in error and "sk-same" not in error
