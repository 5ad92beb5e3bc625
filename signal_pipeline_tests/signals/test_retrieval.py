from __future__ import annotations

from datetime import timedelta

import pytest

from signal_pipeline.signals.expiration import expire_signals
from signal_pipeline.signals.retrieval import (
    HistoryQuery,
    InvalidQueryError,
    active_query_plan,
    active_signals,
    latest_signal,
    latest_signals,
    signal_history,
)
from signal_pipeline.signals.store import SignalStore

from .conftest import T0, make_signal


@pytest.fixture
def filled(store: SignalStore) -> SignalStore:
    signals = []
    for i in range(40):
        signals.append(
            make_signal(
                symbol=("AAPL", "MSFT", "SPY")[i % 3],
                signal_type=("BUY", "SELL", "HOLD", "BUY")[i % 4],
                confidence=0.5 + (i % 5) * 0.1,
                minutes=i,
                ttl_minutes=30,
                model_version=("v1", "v2")[i % 2],
            )
        )
    store.write(signals)
    return store


def test_latest_per_symbol(filled: SignalStore) -> None:
    latest = latest_signals(filled)
    # i = 39 -> AAPL? 39 % 3 == 0 -> AAPL; 38 -> SPY; 37 -> MSFT
    assert {s: v.created_at for s, v in latest.items()} == {
        "AAPL": T0 + timedelta(minutes=39),
        "MSFT": T0 + timedelta(minutes=37),
        "SPY": T0 + timedelta(minutes=38),
    }
    assert latest_signal(filled, "MSFT").created_at == T0 + timedelta(minutes=37)
    assert latest_signal(filled, "NOPE") is None
    assert list(latest_signals(filled, ["SPY"])) == ["SPY"]


def test_latest_survives_archiving(filled: SignalStore) -> None:
    expire_signals(filled, now=T0 + timedelta(days=1))  # everything moves to the archive
    assert filled.count() == 0
    assert latest_signal(filled, "AAPL").created_at == T0 + timedelta(minutes=39)
    newer = make_signal(symbol="AAPL", minutes=100)
    filled.write([newer])
    assert latest_signal(filled, "AAPL").created_at == newer.created_at


def _all_pages(store: SignalStore, **filters: object) -> list:
    out, cursor = [], None
    while True:
        page = signal_history(store, HistoryQuery(limit=7, cursor=cursor, **filters))
        out.extend(page.signals)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def test_history_pages_cover_everything_newest_first(filled: SignalStore) -> None:
    expire_signals(filled, now=T0 + timedelta(minutes=45))  # split rows between the two tables
    assert 0 < filled.count() < 40
    rows = _all_pages(filled)
    assert [s.created_at for s in rows] == [T0 + timedelta(minutes=i) for i in range(39, -1, -1)]
    assert len(_all_pages(filled, include_archived=False)) == filled.count()


@pytest.mark.parametrize(
    ("filters", "predicate"),
    [
        ({"symbol": "MSFT"}, lambda i: i % 3 == 1),
        ({"signal_type": "sell"}, lambda i: i % 4 == 1),
        ({"model_version": "v2"}, lambda i: i % 2 == 1),
        ({"min_confidence": 0.8}, lambda i: i % 5 >= 3),
        (
            {"start": T0 + timedelta(minutes=10), "end": T0 + timedelta(minutes=20)},
            lambda i: 10 <= i < 20,
        ),
        ({"symbol": "AAPL", "signal_type": "BUY"}, lambda i: i % 3 == 0 and i % 4 in (0, 3)),
    ],
)
def test_history_filters(filled: SignalStore, filters: dict, predicate) -> None:
    got = [int((s.created_at - T0).total_seconds() // 60) for s in _all_pages(filled, **filters)]
    assert got == [i for i in range(39, -1, -1) if predicate(i)]


def test_history_rejects_bad_queries(filled: SignalStore) -> None:
    with pytest.raises(InvalidQueryError, match="limit"):
        HistoryQuery(limit=100_000)
    with pytest.raises(InvalidQueryError, match="cursor"):
        signal_history(filled, HistoryQuery(cursor="not-a-cursor"))
    with pytest.raises(InvalidQueryError, match="signal_type"):
        HistoryQuery(signal_type="LONG")


def test_active_signals(filled: SignalStore) -> None:
    now = T0 + timedelta(minutes=35)  # created at minute i, expires at i + 30: active if i > 5
    active = active_signals(filled, now=now)
    assert sorted(int((s.created_at - T0).total_seconds() // 60) for s in active) == list(
        range(6, 40)
    )
    assert [s.expires_at for s in active] == sorted(s.expires_at for s in active)
    filled.set_executed(active[0].id)
    assert len(active_signals(filled, now=now)) == 33
    assert {s.symbol for s in active_signals(filled, now=now, symbol="SPY")} == {"SPY"}


def test_active_query_reads_the_partial_index(store: SignalStore) -> None:
    store.write([make_signal()])
    assert "idx_signals_active" in active_query_plan(store)
