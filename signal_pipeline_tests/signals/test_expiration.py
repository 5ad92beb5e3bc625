from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from signal_pipeline.signals.expiration import expire_signals
from signal_pipeline.signals.integrity import integrity_counts
from signal_pipeline.signals.store import SignalStore

from .conftest import T0, make_signal


def test_expiration_moves_exactly_the_expired_rows(store: SignalStore) -> None:
    ttls = [5, 10, 10, 15, 60, 120]
    ids = store.write([make_signal(minutes=i, ttl_minutes=t) for i, t in enumerate(ttls)]).ids
    store.set_executed(ids[1])  # executed signals expire too
    now = T0 + timedelta(minutes=12)  # expires_at = i + ttl: 5, 11, 12, 18, 64, 125
    before = {i: store.get(i) for i in ids}
    result = expire_signals(store, now=now)
    assert result.ids == sorted(ids[:3])  # expires_at <= now, boundary included
    assert store.count() == 3 and store.count("signals_archive") == 3
    live = {r["id"] for r in store.fetch("SELECT id FROM trading_signals")}
    archived = {r["id"] for r in store.fetch("SELECT id FROM signals_archive")}
    assert live == set(ids[3:]) and archived == set(ids[:3])
    for i in ids:  # rows moved unchanged, same id
        assert store.get(i) == before[i]
    assert expire_signals(store, now=now).archived == 0  # idempotent
    assert expire_signals(store, now=T0 + timedelta(days=1)).ids == sorted(ids[3:])
    assert store.count() == 0 and store.count("signals_archive") == 6


def test_expiration_concurrent_with_writers_loses_nothing(store_url: str, tmp_path: Path) -> None:
    # A writer keeps adding signals (half of them already expired) while expiration runs.
    now = T0 + timedelta(minutes=30)
    signals = [make_signal(minutes=i * 0.01, ttl_minutes=(5 if i % 2 else 500)) for i in range(600)]
    SignalStore(store_url).upgrade()
    writer_store = SignalStore(store_url, outbox_dir=tmp_path / "w", batch_size=25)
    expirer_store = SignalStore(store_url, outbox_dir=tmp_path / "e")
    done = threading.Event()
    moved: list[int] = []

    def write() -> None:
        try:
            for start in range(0, len(signals), 50):
                writer_store.write(signals[start : start + 50])
        finally:
            done.set()

    thread = threading.Thread(target=write)
    thread.start()
    while not done.is_set():
        moved += expire_signals(expirer_store, now=now).ids
    thread.join()
    moved += expire_signals(expirer_store, now=now).ids
    try:
        live = {r["id"] for r in expirer_store.fetch("SELECT id FROM trading_signals")}
        archived = {r["id"] for r in expirer_store.fetch("SELECT id FROM signals_archive")}
        assert len(live) == 300 and len(archived) == 300 and not live & archived
        assert sorted(moved) == sorted(archived)  # each expired row moved exactly once
    finally:
        writer_store.close()
        expirer_store.close()


def test_integrity_counts_catch_a_row_in_both_tables(store: SignalStore) -> None:
    (sid,) = store.write([make_signal(ttl_minutes=5)]).ids
    assert not any(integrity_counts(store).values())
    with store.transaction() as tx:  # corrupt on purpose: copy without deleting
        tx.execute(
            "INSERT INTO signals_archive (id, symbol, signal_type, confidence, created_at, "
            "expires_at, executed, idempotency_key) SELECT id, symbol, signal_type, confidence, "
            "created_at, expires_at, executed, idempotency_key FROM trading_signals"
        )
    counts = integrity_counts(store)
    assert counts["ids_in_both_tables"] == 1 and counts["keys_in_both_tables"] == 1
    assert sid in {r["id"] for r in store.fetch("SELECT id FROM signals_archive")}
