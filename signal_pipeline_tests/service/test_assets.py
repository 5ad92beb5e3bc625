"""The Dagster assets of this layer, materialised in-process on temporary folders:
``signal_snapshot``, ``model_monitoring`` and ``ab_test_report``."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from signal_pipeline.data import simulate_market
from signal_pipeline.data.storage import Warehouse
from signal_pipeline.defs.monitoring.assets import ab_test_report, model_monitoring
from signal_pipeline.defs.resources import MlflowResource, SignalStoreResource, WarehouseResource
from signal_pipeline.defs.signal_snapshots.snapshot import signal_snapshot
from signal_pipeline.features import compute_features
from signal_pipeline.inference.drift import DriftReference
from signal_pipeline.inference.engine import SignalEngine
from signal_pipeline.inference.monitor import DriftMonitor
from signal_pipeline.signals.store import SignalStore
from signal_pipeline_tests.inference.conftest import SYMBOLS, just_after, recent_bars
from signal_pipeline_tests.signals.conftest import make_signal

from .conftest import Champion


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    (event,) = result.asset_materializations_for_node(key)
    return {k: v.value for k, v in event.metadata.items()}


def test_signal_snapshot_writes_the_champion_signal_per_symbol(
    champion: Champion, tmp_path: Path
) -> None:
    trained = champion.trained
    warehouse = Warehouse(tmp_path / "wh")
    warehouse.write_partitioned("raw_bars", trained.bars)
    # the market the champion was trained on, for its quotes (the spread filter reads them)
    quotes = simulate_market(SYMBOLS, 4, seed=7, option_chains=False).quotes
    warehouse.write_partitioned("quotes", quotes)
    url = f"sqlite:///{tmp_path / 'signals.db'}"
    result = dg.materialize(
        [signal_snapshot],
        resources={
            "warehouse": WarehouseResource(root=str(tmp_path / "wh")),
            "signal_store": SignalStoreResource(url=url),
            "mlflow": MlflowResource(tracking_uri=champion.tracking_uri),
        },
    )
    assert result.success
    meta = _metadata(result, "signal_snapshot")
    assert meta["dagster/row_count"] == len(SYMBOLS) and meta["inserted"] == len(SYMBOLS)
    assert meta["model_version"] == f"signal-ensemble/{champion.version}"
    store = SignalStore(url)
    try:
        rows = store.fetch("SELECT symbol, signal_type, features FROM trading_signals")
    finally:
        store.close()
    assert sorted(r["symbol"] for r in rows) == SYMBOLS
    # the stored AAA signal is the offline prediction on AAA's latest bars
    offline = trained.ensemble.predict_signal(
        compute_features(recent_bars(trained.bars, "AAA", 300), trained.spec)
    ).iloc[-1]
    stored = next(r for r in rows if r["symbol"] == "AAA")
    features = stored["features"] if isinstance(stored["features"], dict) else None
    if features is None:
        import json

        features = json.loads(stored["features"])
    assert features["_raw_signal"] == offline["signal"]
    assert features["_p_buy"] == pytest.approx(offline["p_buy"], abs=1e-12)
    # the quote at the last bar was used: its spread decides whether a BUY/SELL stands
    last = quotes[quotes["symbol"] == "AAA"].iloc[-1]
    spread = (last["ask"] - last["bid"]) / ((last["ask"] + last["bid"]) / 2)
    if offline["signal"] != "HOLD" and spread > 0.005:
        assert stored["signal_type"] == "HOLD"


def test_model_monitoring_reports_drift_with_a_plot(champion: Champion, tmp_path: Path) -> None:
    trained = champion.trained
    names = list(trained.ensemble.feature_names)
    monitor = DriftMonitor(DriftReference.from_features(trained.features, names))
    engine = SignalEngine(trained.ensemble, model_version="t", spec=trained.spec, monitor=monitor)
    for symbol in SYMBOLS:
        bars = recent_bars(trained.bars, symbol, 300)
        engine.infer(symbol, bars, now=just_after(bars))
    monitor.write_snapshot(tmp_path / "monitoring")
    result = dg.materialize(
        [model_monitoring],
        run_config={
            "ops": {"model_monitoring": {"config": {"folder": str(tmp_path / "monitoring")}}}
        },
    )
    meta = _metadata(result, "model_monitoring")
    assert meta["predictions"] == len(SYMBOLS)
    assert meta["features"] == len(names)
    assert "data:image/png;base64," in meta["drift_plot"]
    assert "psi" in meta["drift"]


def test_ab_test_report_compares_versions_on_outcomes(champion: Champion, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ab.db'}"
    rng = np.random.default_rng(3)
    a = np.round(rng.normal(0.05, 0.5, 40), 2)
    b = np.round(rng.normal(0.30, 0.5, 40), 2)
    signals = [
        make_signal(
            symbol="AAA", minutes=i, model_version="signal-ensemble/1", performance=float(r)
        )
        for i, r in enumerate(a)
    ] + [
        make_signal(
            symbol="BBB", minutes=i, model_version="signal-ensemble/2", performance=float(r)
        )
        for i, r in enumerate(b)
    ]
    store = SignalStore(url)
    store.write(signals)
    store.close()
    result = dg.materialize(
        [ab_test_report],
        resources={
            "signal_store": SignalStoreResource(url=url),
            "mlflow": MlflowResource(tracking_uri=champion.tracking_uri),
        },
        run_config={
            "ops": {
                "ab_test_report": {
                    "config": {
                        "champion_version": "signal-ensemble/1",
                        "challenger_version": "signal-ensemble/2",
                    }
                }
            }
        },
    )
    meta = _metadata(result, "ab_test_report")
    assert meta["champion_n"] == 40 and meta["challenger_n"] == 40
    assert meta["champion_hit_rate"] == pytest.approx(float(np.mean(a > 0)))
    expected = stats.ttest_ind(b, a, equal_var=False)
    assert meta["p_return"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert "challenger" in meta["arms"]


def test_snapshot_table_is_empty_without_bars(champion: Champion) -> None:
    from signal_pipeline.inference.snapshot import snapshot_signals

    engine = SignalEngine(
        champion.trained.ensemble, model_version="t", spec=champion.trained.spec, cache=False
    )
    short = recent_bars(champion.trained.bars, "AAA", 5)
    snap = snapshot_signals(engine, pd.concat([short]))
    assert snap.table().empty and "min_bars" in snap.skipped["AAA"]
