from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest

from signal_pipeline.signals.expiration import expire_signals
from signal_pipeline.signals.store import (
    SignalNotFoundError,
    SignalStore,
    SignalStoreUnavailableError,
)

from .conftest import T0, make_signal


def test_round_trip_quantises_like_the_spec_columns(store: SignalStore) -> None:
    s = make_signal(
        confidence=0.875,
        target_price=101.23456,
        stop_loss=95.0,
        position_size=0.5,
        reasoning="rsi oversold",
        model_version="ens-3",
        features={"rsi_14_1m": 28.5, "tag": "x"},
    )
    (sid,) = store.write([s]).ids
    got = store.get(sid)
    assert got.confidence == 0.88  # DECIMAL(3,2), half away from zero on both engines
    assert got.target_price == 101.2346  # DECIMAL(10,4)
    assert got.features == {"rsi_14_1m": 28.5, "tag": "x"}
    assert (got.created_at, got.expires_at) == (s.created_at, s.expires_at)
    assert (got.symbol, got.signal_type, got.reasoning, got.model_version) == (
        "AAPL",
        "BUY",
        "rsi oversold",
        "ens-3",
    )
    assert got.idempotency_key == s.idempotency_key and got.executed is False


def test_retried_write_never_duplicates(store: SignalStore) -> None:
    batch = [make_signal(symbol=sym, minutes=i) for i in range(30) for sym in ("AAPL", "MSFT")]
    first = store.write(batch)
    assert first.inserted == 60
    again = store.write(batch[::-1] + batch[:5])  # reordered retry plus duplicates in the batch
    assert again.inserted == 0 and again.duplicates == 65
    assert again.ids == first.ids[::-1] + first.ids[:5]
    assert store.count() == 60


def test_retry_after_archiving_is_not_stored_again(store: SignalStore) -> None:
    s = make_signal(ttl_minutes=5)
    (sid,) = store.write([s]).ids
    expire_signals(store, now=T0 + __import__("datetime").timedelta(minutes=10))
    again = store.write([s])
    assert again.ids == [sid] and again.inserted == 0
    assert store.count() == 0 and store.count("signals_archive") == 1


def test_parallel_writers_lose_and_duplicate_nothing(store_url: str, tmp_path: Path) -> None:
    # 4 writers, each its own store (own connections), overlapping key ranges and batches.
    signals = [make_signal(symbol=f"S{i % 7}", minutes=i) for i in range(400)]
    errors: list[BaseException] = []
    results: dict[int, list[int]] = {}

    def writer(n: int) -> None:
        store = SignalStore(store_url, outbox_dir=tmp_path / "outbox", batch_size=37)
        try:
            mine = signals[n * 80 : n * 80 + 160]  # each overlaps its neighbour by 80
            results[n] = store.write(mine).ids
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    SignalStore(store_url).upgrade()
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = SignalStore(store_url)
    try:
        assert store.count() == 400  # writers cover signals[0:400], half of it twice
        keys = {
            r["idempotency_key"] for r in store.fetch("SELECT idempotency_key FROM trading_signals")
        }
        assert keys == {s.idempotency_key for s in signals}
        # Overlapping writers agree on the id of every shared signal.
        for n in range(3):
            assert results[n][80:] == results[n + 1][:80]
    finally:
        store.close()


def _take_database_away(store: SignalStore, store_url: str) -> callable:
    """Make the database refuse connections; returns the function that brings it back."""
    if store.dialect.name == "sqlite":
        path = store.dialect.url.target
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # every other writer now fails with 'locked'
        return lambda: (blocker.execute("COMMIT"), blocker.close())
    admin_dsn, _, name = store_url.rpartition("/")
    admin = psycopg.connect(f"{admin_dsn}/postgres", autocommit=True)
    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
    )

    def back() -> None:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()

    return back


def test_database_gone_mid_run_keeps_writes_and_flushes_later(
    store_url: str, tmp_path: Path
) -> None:
    if store_url.startswith("sqlite"):
        store_url += "?timeout=0.2"
    store = SignalStore(store_url, outbox_dir=tmp_path / "outbox")
    try:
        store.write([make_signal(minutes=i) for i in range(10)])
        bring_back = _take_database_away(store, store_url)
        lost = [make_signal(minutes=i) for i in range(10, 25)]
        with pytest.raises(SignalStoreUnavailableError) as info:
            store.write(lost[:10])
        assert "kept in the outbox" in str(info.value) and info.value.spooled == 10
        with pytest.raises(SignalStoreUnavailableError):
            store.write(lost[5:])  # overlaps the spooled batch
        assert store.pending_outbox() == 20
        bring_back()
        result = store.write([make_signal(minutes=99)])  # flushes the outbox first
        assert result.inserted == 1
        assert store.pending_outbox() == 0
        keys = {
            r["idempotency_key"] for r in store.fetch("SELECT idempotency_key FROM trading_signals")
        }
        assert len(keys) == store.count() == 10 + 15 + 1
        assert {s.idempotency_key for s in lost} <= keys
    finally:
        store.close()


def test_set_executed_and_not_found(store: SignalStore) -> None:
    (sid,) = store.write([make_signal()]).ids
    assert store.set_executed(sid).executed is True
    assert store.set_executed(sid, False).executed is False
    with pytest.raises(SignalNotFoundError, match="id=999999"):
        store.set_executed(999_999)
    with pytest.raises(SignalNotFoundError):
        store.get(999_999)


@pytest.mark.postgres
def test_stale_connection_reconnects_without_spooling(pg_dsn: str, tmp_path: Path) -> None:
    store = SignalStore(pg_dsn, outbox_dir=tmp_path / "outbox")
    try:
        store.write([make_signal()])
        admin_dsn, _, name = pg_dsn.rpartition("/")
        with psycopg.connect(f"{admin_dsn}/postgres", autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
        assert store.write([make_signal(minutes=1)]).inserted == 1  # server restart: retried
        assert store.pending_outbox() == 0 and store.count() == 2
    finally:
        store.close()
