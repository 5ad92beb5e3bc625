"""Analytics SQL against hand-computed hit rates, returns and calibration error."""

from __future__ import annotations

from datetime import timedelta

import pytest

from signal_pipeline.signals import analytics
from signal_pipeline.signals.store import SignalStore
from signal_pipeline.signals.tracker import Outcome, record_outcomes

from .conftest import T0, make_signal

# symbol, type, confidence, model, direction_return, hit, day offset
_CASES = [
    ("AAPL", "BUY", 0.85, "v1", 0.02, True, 0),
    ("AAPL", "SELL", 0.75, "v1", -0.01, False, 0),
    ("MSFT", "BUY", 0.65, "v2", 0.03, True, 1),
    ("MSFT", "HOLD", 0.55, "v2", 0.0, None, 1),
]


@pytest.fixture
def settled(store: SignalStore) -> SignalStore:
    signals = [
        make_signal(
            symbol=sym,
            signal_type=kind,
            confidence=conf,
            model_version=model,
            minutes=day * 1440 + i,
        )
        for i, (sym, kind, conf, model, _, _, day) in enumerate(_CASES)
    ]
    ids = store.write(signals).ids
    record_outcomes(
        store,
        [
            Outcome(
                signal_id=sid,
                evaluated_at=T0 + timedelta(days=3),
                entry_ts=s.created_at,
                entry_price=100.0,
                exit_ts=s.expires_at,
                exit_price=100.0,
                raw_return=ret,
                direction_return=ret,
                hit=hit,
                first_hit="NONE",
                first_hit_at=None,
                max_favorable=0.0,
                max_adverse=0.0,
                n_bars=60,
            )
            for sid, s, (_, _, _, _, ret, hit, _) in zip(ids, signals, _CASES, strict=True)
        ],
    )
    return store


def test_hit_rate_and_return_by_symbol(settled: SignalStore) -> None:
    df = analytics.run_query(settled, "hit_rate_by_symbol").set_index("symbol")
    assert df.loc["AAPL", "n_signals"] == 2 and df.loc["AAPL", "hit_rate"] == pytest.approx(0.5)
    assert df.loc["AAPL", "avg_return"] == pytest.approx(0.005)
    assert df.loc["MSFT", "n_directional"] == 1 and df.loc["MSFT", "hit_rate"] == pytest.approx(1.0)
    assert df.loc["MSFT", "avg_return"] == pytest.approx(0.015)


def test_every_report_and_calibration(settled: SignalStore) -> None:
    reports = analytics.signal_analytics(settled)
    assert set(reports) == set(analytics.REPORTS)
    by_type = reports["by_signal_type"].set_index("signal_type")
    assert by_type.loc["HOLD", "n_signals"] == 1 and by_type.loc[
        "BUY", "hit_rate"
    ] == pytest.approx(1.0)
    by_model = reports["by_model_version"].set_index("model_version")
    assert by_model.loc["v1", "hit_rate"] == pytest.approx(0.5)
    over_time = reports["over_time"]
    assert list(over_time["day"]) == ["2024-03-04", "2024-03-05"]
    assert list(reports["by_confidence"]["confidence_bucket"]) == pytest.approx(
        [0.5, 0.6, 0.7, 0.8]
    )
    cal = reports["calibration"]
    assert list(cal["confidence_bucket"]) == pytest.approx([0.6, 0.7, 0.8])  # HOLD excluded
    ece = (abs(0.65 - 1) + abs(0.75 - 0) + abs(0.85 - 1)) / 3
    assert analytics.expected_calibration_error(cal) == pytest.approx(ece)


def test_plots_are_png(settled: SignalStore) -> None:
    reports = analytics.signal_analytics(settled)
    for png in (
        analytics.plot_calibration(reports["calibration"]),
        analytics.plot_over_time(reports["over_time"]),
    ):
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_empty_store_gives_empty_frames_with_columns(store: SignalStore) -> None:
    df = analytics.run_query(store, "calibration")
    assert df.empty and list(df.columns) == [
        "confidence_bucket",
        "n_signals",
        "mean_confidence",
        "hit_rate",
    ]
    with pytest.raises(analytics.UnknownQueryError, match="known"):
        analytics.run_query(store, "nope")
