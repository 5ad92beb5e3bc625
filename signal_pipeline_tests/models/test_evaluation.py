"""Metrics against hand calculations, the reliability plot, and the leakage alarm."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.models import (
    PurgedWalkForward,
    RandomForestModel,
    XGBoostModel,
    classification_metrics,
    expected_calibration_error,
    oracle_comparison,
    reliability_plot,
    reliability_table,
    shuffled_label_alarm,
)
from signal_pipeline.models.evaluation import baseline_metrics, last_known_label
from signal_pipeline_tests.models.conftest import FAST_CONFIG

# Confidences 0.9, 0.9, 0.55, 0.45 with the first, third and fourth right.
PROBA = np.array([[0.9, 0.05, 0.05], [0.05, 0.05, 0.9], [0.2, 0.55, 0.25], [0.45, 0.3, 0.25]])
Y = np.array([0, 0, 1, 0])


def test_ece_and_reliability_table_by_hand() -> None:
    # Bins of width 0.1: (0.8, 0.9] holds 2 rows, conf 0.9, accuracy 1/2 -> gap 0.4;
    # (0.5, 0.6] one row, conf 0.55, acc 1 -> 0.45; (0.4, 0.5] one row, 0.45, acc 1 -> 0.55.
    # ECE = 2/4 · 0.4 + 1/4 · 0.45 + 1/4 · 0.55 = 0.45.
    assert expected_calibration_error(PROBA, Y, n_bins=10) == pytest.approx(0.45)
    table = reliability_table(PROBA, Y, n_bins=10)
    assert table["count"].tolist() == [0, 0, 0, 0, 1, 1, 0, 0, 2, 0]
    assert table.loc[8, "accuracy"] == pytest.approx(0.5)
    assert table.loc[8, "mean_confidence"] == pytest.approx(0.9)


def test_classification_metrics_by_hand() -> None:
    m = classification_metrics(PROBA, Y, threshold=0.6)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["confusion_matrix"] == [[2, 0, 1], [0, 1, 0], [0, 0, 0]]
    assert m["recall_sell"] == pytest.approx(2 / 3)
    assert m["precision_buy"] == 0.0
    # Balanced accuracy over the classes present: (2/3 + 1) / 2.
    assert m["balanced_accuracy"] == pytest.approx(5 / 6)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.05, 0.55, 0.45])))
    assert (m["high_conf_share"], m["high_conf_accuracy"], m["low_conf_accuracy"]) == (
        0.5,
        0.5,
        1.0,
    )


def test_oracle_comparison_by_hand() -> None:
    oracle = np.array([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.2, 0.2]])
    got = oracle_comparison(PROBA, Y, oracle)
    assert got["oracle_accuracy"] == 1.0
    assert got["accuracy_gap"] == pytest.approx(0.25)
    oracle_loss = -np.mean(np.log([0.8, 0.7, 0.8, 0.6]))
    model_loss = -np.mean(np.log([0.9, 0.05, 0.55, 0.45]))
    assert got["log_loss_gap"] == pytest.approx(model_loss - oracle_loss)


def test_reliability_plot_is_a_png() -> None:
    png = reliability_plot(PROBA, Y)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 5000


def test_last_known_label_only_uses_labels_resolved_by_ts() -> None:
    t = pd.Timestamp("2024-01-02 15:00", tz="UTC")
    minute = pd.Timedelta("1min")
    labels = pd.DataFrame(
        {
            "symbol": ["A", "A", "A", "B"],
            "ts": [t, t + minute, t + 2 * minute, t],
            "label": [2, 0, 1, 0],
            "event_end": [t + 5 * minute, t + 2 * minute, t + 9 * minute, t + minute],
        }
    )
    at = pd.DataFrame(
        {"symbol": ["A", "A", "A", "B"], "ts": [t + minute, t + 3 * minute, t + 6 * minute, t]}
    )
    # A at t+1: nothing resolved yet; at t+3: the t+1 label (ended t+2); at t+6: the t label
    # (ended t+5) is the latest resolved; B at t: nothing yet.
    assert last_known_label(labels, at, fallback=-1).tolist() == [-1, 0, 2, -1]
    base = baseline_metrics(at.assign(label=[1, 0, 2, 1]), labels, prior=[0.2, 0.5, 0.3])
    assert base["class_prior"]["accuracy"] == pytest.approx(0.5)  # always HOLD
    assert base["last_label"]["accuracy"] == pytest.approx(1.0)  # fallback HOLD, 0, 2, HOLD


def _noise_panel(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-02 14:31", periods=n, freq="min", tz="UTC")
    X = pd.DataFrame({"symbol": "A", "ts": ts, "f1": rng.normal(size=n), "f2": rng.normal(size=n)})
    y = rng.choice(3, size=n, p=[0.3, 0.4, 0.3])
    times = pd.DataFrame({"ts": ts, "event_end": ts + pd.Timedelta("10min")})
    return X, y, times


def test_shuffled_labels_score_at_chance() -> None:
    X, y, times = _noise_panel()
    # The planted feature makes the real labels learnable; shuffled, they must not be.
    X = X.assign(f1=y + np.random.default_rng(1).normal(0, 0.3, len(y)))
    result = shuffled_label_alarm(
        X,
        y,
        cv=PurgedWalkForward(3, embargo="10min"),
        groups=times,
        model_factory=lambda: XGBoostModel(FAST_CONFIG["xgboost"]),
    )
    assert result.passed, result
    assert result.accuracy <= result.chance + 3 * result.standard_error
    assert result.standard_error == pytest.approx(
        np.sqrt(result.chance * (1 - result.chance) / result.n)
    )


class _LeakySplit:
    """A broken splitter that trains on its own test rows: the alarm must fire."""

    def split(
        self, X: object, y: object = None, groups: object = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(X)  # type: ignore[arg-type]
        for k in range(3):
            test = np.arange(n)[k * n // 3 : (k + 1) * n // 3]
            yield np.arange(n), test


def test_the_alarm_fires_when_test_rows_leak_into_training() -> None:
    X, y, _ = _noise_panel()
    memoriser = {
        "n_estimators": 20,
        "max_depth": None,
        "min_samples_leaf": 1,
        "min_samples_split": 2,
    }
    result = shuffled_label_alarm(
        X, y, cv=_LeakySplit(), model_factory=lambda: RandomForestModel(memoriser)
    )
    assert not result.passed
    assert result.accuracy > 0.9
