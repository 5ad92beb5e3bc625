from __future__ import annotations

from datetime import timedelta

from signal_pipeline.signals.expiration import expire_signals
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
