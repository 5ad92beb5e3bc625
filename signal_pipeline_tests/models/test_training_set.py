"""build_training_set: sampling, feature selection, labels joined, hashes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.labels import triple_barrier_labels
from signal_pipeline.models.training_set import (
    TrainingSetError,
    build_training_set,
    frame_hash,
    sample_decision_points,
    select_feature_columns,
    split_training_set,
    training_config,
)
from signal_pipeline_tests.models.synthetic import planted_market


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, pd.DataFrame]:
    return planted_market(days=2)


def test_decision_points_are_the_same_session_minutes_for_every_symbol(market: tuple) -> None:
    _, features = market
    sampled = sample_decision_points(features, 10)
    local = sampled["ts"].dt.tz_convert("America/New_York")
    minutes = (local.dt.hour * 60 + local.dt.minute) - (9 * 60 + 31)
    assert set(minutes % 10) == {0}
    # 09:31, 09:41, ..., 15:51: 39 decision points per session and symbol.
    assert sampled.groupby("symbol").size().tolist() == [78, 78]
    assert len(sample_decision_points(features, 1)) == len(features)
    with pytest.raises(TrainingSetError, match="sample_every=0"):
        sample_decision_points(features, 0)


def test_feature_globs_include_then_exclude() -> None:
    columns = ["symbol", "ts", "rsi_14_1m", "rsi_14_1d", "sma_20_1m", "roc_1_5m", "label"]
    assert select_feature_columns(columns, ["rsi_*", "roc_*"], ["*_1d"]) == [
        "rsi_14_1m",
        "roc_1_5m",
    ]
    assert select_feature_columns(columns) == ["rsi_14_1m", "rsi_14_1d", "sma_20_1m", "roc_1_5m"]


def test_training_set_joins_labels_of_the_full_bar_path(market: tuple) -> None:
    bars, features = market
    features = features.copy()
    features.attrs["feature_spec_hash"] = "spec-1"
    config = {
        "training": {
            "sample_every": 5,
            "feature_include": ["signal_*", "noise_a_*"],
            "feature_exclude": [],
        }
    }
    frame = build_training_set(features, bars, config=config)
    X, labels = split_training_set(frame)
    assert list(X.columns) == ["symbol", "ts", "signal_1_1m", "noise_a_1m"]
    assert {"label", "event_end", "ret", "vol"} <= set(labels.columns)
    # Labels equal the ones computed on every bar (the barriers need the whole path).
    full = triple_barrier_labels(bars).set_index(["symbol", "ts"])
    joined = labels.set_index(["symbol", "ts"])
    np.testing.assert_array_equal(joined["label"], full.loc[joined.index, "label"])
    assert frame.attrs["feature_spec_hash"] == "spec-1"
    assert frame.attrs["rows_before_sampling"] == len(features)


def test_no_matching_feature_is_an_error(market: tuple) -> None:
    bars, features = market
    with pytest.raises(TrainingSetError, match="feature_include"):
        build_training_set(features, bars, config={"training": {"feature_include": ["nothing_*"]}})


def test_frame_hash_changes_with_any_value_and_training_config_merges_overrides(
    market: tuple,
) -> None:
    _, features = market
    changed = features.copy()
    changed.loc[100, "signal_1_1m"] += 1e-9
    assert frame_hash(features) == frame_hash(features.copy())
    assert frame_hash(features) != frame_hash(changed)
    cfg = training_config({"lstm": {"epochs": 2}})
    assert cfg["lstm"]["epochs"] == 2
    assert cfg["lstm"]["batch_size"] == cfg["training"]["overrides"]["lstm"]["batch_size"]
