"""PSI and KS against hand calculations and scipy; the drift monitor's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from signal_pipeline.inference import (
    DriftMonitor,
    DriftReference,
    SignalEngine,
    drift_plot,
    drift_report,
    ks_statistic,
    psi,
    read_snapshots,
)
from signal_pipeline.inference.drift import bin_shares, ks_pvalue
from signal_pipeline_tests.inference.conftest import Trained, recent_bars


def test_psi_by_hand() -> None:
    # sum (a - e) ln(a / e) over [.1 .2 .3 .4] vs uniform quarters:
    # 0.137444 + 0.011157 + 0.009116 + 0.070501 = 0.228218
    assert psi(np.full(4, 0.25), np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(
        0.228218, abs=1e-6
    )
    assert psi(np.full(4, 0.25), np.full(4, 0.25)) == 0.0


def test_quantile_bins_and_psi_by_hand() -> None:
    reference = DriftReference.from_features(pd.DataFrame({"x": np.arange(1.0, 101.0)}), n_bins=4)
    # numpy's linear quantiles of 1..100 at 1/4, 1/2, 3/4.
    np.testing.assert_allclose(reference.edges["x"], [25.75, 50.5, 75.25])
    np.testing.assert_allclose(reference.expected["x"], [0.25, 0.25, 0.25, 0.25])
    live = pd.DataFrame({"x": [10.0, 20, 30, 60, 70, 80, 90, 95, 99, 100, np.nan]})
    np.testing.assert_allclose(
        bin_shares(live["x"].to_numpy(), reference.edges["x"]), [0.2, 0.1, 0.2, 0.5]
    )
    report = drift_report(reference, live)
    # 0.011157 + 0.137444 + 0.011157 + 0.25 ln 2 (0.173287) = 0.333045
    assert report.loc[0, "psi"] == pytest.approx(0.333045, abs=1e-6)
    assert report.loc[0, "n_live"] == 10
    assert report.loc[0, "status"] == "significant"


def test_ks_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=400), rng.normal(0.3, 1.2, size=250)
    expected = stats.ks_2samp(a, b, method="asymp")
    assert ks_statistic(a, b) == pytest.approx(expected.statistic, abs=1e-15)
    assert ks_pvalue(ks_statistic(a, b), 400, 250) == pytest.approx(expected.pvalue, rel=1e-9)
    ties = np.array([1.0, 1, 2, 2, 3]), np.array([1.0, 2, 2, 2, 4, 5])
    assert ks_statistic(*ties) == pytest.approx(stats.ks_2samp(*ties).statistic, abs=1e-15)


def test_zero_drift_on_the_training_table(trained: Trained) -> None:
    names = trained.ensemble.feature_names
    reference = DriftReference.from_features(trained.features, names, sample_size=100_000)
    report = drift_report(reference, trained.features)
    assert (report["psi"] == 0).all() and (report["ks"] == 0).all()
    assert set(report["status"]) == {"stable"}


def test_a_shifted_feature_is_flagged(trained: Trained) -> None:
    names = trained.ensemble.feature_names
    reference = DriftReference.from_features(trained.features, names)
    live = trained.features.sample(1000, random_state=0)
    live["rsi_14_1m"] = live["rsi_14_1m"] + 30
    report = drift_report(reference, live).set_index("feature")
    assert report.loc["rsi_14_1m", "status"] == "significant"
    assert report.loc["rsi_14_1m", "ks"] > 0.5
    assert report["psi"].idxmax() == "rsi_14_1m"


def test_reference_round_trip(trained: Trained, tmp_path: Path) -> None:
    reference = DriftReference.from_features(trained.features, trained.ensemble.feature_names)
    loaded = DriftReference.load(reference.save(tmp_path / "reference.parquet"))
    assert loaded.features == reference.features and loaded.n_rows == reference.n_rows
    for name in reference.features:
        np.testing.assert_array_equal(loaded.edges[name], reference.edges[name])
        np.testing.assert_array_equal(loaded.sample[name], reference.sample[name])


def test_monitor_metrics_and_snapshots(trained: Trained, tmp_path: Path) -> None:
    reference = DriftReference.from_features(trained.features, trained.ensemble.feature_names)
    monitor = DriftMonitor(reference, window=100)
    engine = SignalEngine(
        trained.ensemble,
        model_version="v7",
        spec=trained.spec,
        monitor=monitor,
        config={"max_bar_age": None},
    )
    bars = recent_bars(trained.bars, "AAA", 400)
    for end in range(300, 400, 10):
        engine.infer("AAA", bars.iloc[:end].reset_index(drop=True))
    engine.infer("AAA", bars.iloc[:390].reset_index(drop=True))  # a cache hit
    predictions = monitor.predictions()
    assert len(predictions) == 11 and predictions["from_cache"].sum() == 1
    assert len(monitor.live_features()) == 10  # cached answers add no feature row
    text = monitor.metrics_text()
    assert 'signal_inference_latency_seconds_count{cached="false"} 10.0' in text
    assert 'signal_inference_latency_seconds_count{cached="true"} 1.0' in text
    counts = predictions["signal_type"].value_counts()
    for kind, n in counts.items():
        assert (
            f'signal_predictions_total{{model_version="v7",signal_type="{kind}"}} {float(n)}'
            in text
        )
    assert 'feature_psi{feature="rsi_14_1m"}' in text
    written = monitor.write_snapshot(tmp_path)
    assert all(path.is_file() for path in written.values())
    read = read_snapshots(tmp_path)
    assert len(read["predictions"]) == 11
    assert set(read["drift"]["feature"]) == set(trained.ensemble.feature_names)
    png = drift_plot(read["drift"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
