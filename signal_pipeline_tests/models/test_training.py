"""train_ensemble end to end on a small market with a planted signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.labels import triple_barrier_labels
from signal_pipeline.models import TrainedEnsemble, TrainingError, train_ensemble
from signal_pipeline_tests.models.synthetic import WARMUP_ROWS, planted_market

VOL_WINDOW = 30


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    bars, features = planted_market(days=3)
    labels = triple_barrier_labels(bars, horizon=15, vol_window=VOL_WINDOW)
    return bars, features, labels


@pytest.fixture(scope="module")
def trained(market: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> TrainedEnsemble:
    from signal_pipeline_tests.models.conftest import FAST_CONFIG

    _, features, labels = market
    lstm = {**FAST_CONFIG["lstm"], "epochs": 2, "batch_size": 256}
    config = {**FAST_CONFIG, "lstm": lstm, "cv": {"n_splits": 3, "embargo": "15min"}}
    return train_ensemble(features, labels, config=config, leakage_check=True, progress=False)


@pytest.mark.slow
def test_the_planted_signal_beats_the_naive_baselines(trained: TrainedEnsemble) -> None:
    m = trained.metrics
    n = m["ensemble"]["n"]
    prior = m["baselines"]["class_prior"]["accuracy"]
    # Well beyond sampling noise of the prior's accuracy (3 binomial standard errors).
    assert m["ensemble"]["accuracy"] > prior + 3 * np.sqrt(prior * (1 - prior) / n)
    assert m["ensemble"]["accuracy"] > m["baselines"]["last_label"]["accuracy"]
    assert m["ensemble"]["log_loss"] < m["baselines"]["class_prior"]["log_loss"]
    assert m["members"]["xgboost"]["accuracy"] > prior


@pytest.mark.slow
def test_rows_are_joined_dropped_and_counted(
    trained: TrainedEnsemble, market: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
) -> None:
    _, features, labels = market
    dropped = trained.metrics["dropped"]
    # Labels start at bar VOL_WINDOW of each symbol; the warm-up NaNs run to WARMUP_ROWS.
    assert dropped["warmup"] == 2 * (WARMUP_ROWS - VOL_WINDOW)
    assert dropped["features_without_label"] == len(features) - len(labels)
    assert dropped["labels_without_features"] == 0
    assert trained.metrics["n_rows"] == len(labels) - dropped["warmup"]


@pytest.mark.slow
def test_oof_frame_is_out_of_fold_and_sums_to_one(trained: TrainedEnsemble) -> None:
    oof = trained.oof
    assert list(oof.columns[:7]) == ["symbol", "ts", "fold", "p_sell", "p_hold", "p_buy", "label"]
    assert sorted(oof["fold"].unique()) == [0, 1, 2]
    for prefix in ("", "cal_", "xgboost_", "random_forest_", "lstm_"):
        cols = [f"{prefix}p_sell", f"{prefix}p_hold", f"{prefix}p_buy"]
        np.testing.assert_allclose(oof[cols].sum(axis=1), 1.0, atol=1e-12)
    assert not oof.duplicated(["symbol", "ts"]).any()
    # Later folds start later: walk-forward order.
    starts = oof.groupby("fold")["ts"].min()
    assert starts.is_monotonic_increasing


@pytest.mark.slow
def test_saved_ensemble_reproduces_predictions_exactly(
    trained: TrainedEnsemble,
    market: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
) -> None:
    _, features, _ = market
    X = features.dropna().iloc[-300:]
    proba = trained.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    loaded = TrainedEnsemble.load(trained.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    pd.testing.assert_frame_equal(loaded.oof, trained.oof)
    assert loaded.metrics["ensemble"]["accuracy"] == trained.metrics["ensemble"]["accuracy"]
    signals = loaded.predict_signal(X)
    unsure = signals[["p_sell", "p_hold", "p_buy"]].max(axis=1) < 0.6
    assert (signals.loc[unsure, "signal"] == "HOLD").all()


@pytest.mark.slow
def test_a_subset_of_members_trains_with_renormalised_weights(
    market: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    from signal_pipeline_tests.models.conftest import FAST_CONFIG

    _, features, labels = market
    result = train_ensemble(
        features,
        labels,
        members=["xgboost"],
        progress=False,
        config={**FAST_CONFIG, "cv": {"n_splits": 2}, "ensemble": {"calibration": "isotonic"}},
    )
    assert list(result.ensemble.members) == ["xgboost"]
    oof = result.oof
    np.testing.assert_allclose(
        oof[["p_sell", "p_hold", "p_buy"]].to_numpy(),
        oof[["xgboost_p_sell", "xgboost_p_hold", "xgboost_p_buy"]].to_numpy(),
        atol=1e-15,
    )
    assert result.metrics["calibration"]["method"] == "isotonic"


def test_features_without_keys_are_refused(
    market: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    _, features, labels = market
    with pytest.raises(TrainingError, match="symbol"):
        train_ensemble(features.drop(columns="symbol"), labels, progress=False)


@pytest.mark.slow
def test_shuffled_labels_through_the_same_pipeline_score_at_chance(
    trained: TrainedEnsemble,
) -> None:
    alarm = trained.metrics["shuffled_label_alarm"]
    assert alarm["passed"], alarm
    assert alarm["accuracy"] <= alarm["chance"] + alarm["margin"]
    # ... while the real labels are learned well beyond that margin.
    assert trained.metrics["members"]["xgboost"]["accuracy"] > alarm["chance"] + alarm["margin"]


@pytest.mark.slow
def test_oracle_gap_is_measured_on_shared_rows(
    market: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
) -> None:
    from signal_pipeline_tests.models.conftest import FAST_CONFIG

    _, features, labels = market
    config = {**FAST_CONFIG, "cv": {"n_splits": 2}}
    first = train_ensemble(features, labels, members=["xgboost"], config=config, progress=False)
    # Feeding the OOF probabilities back as the "oracle" must give a zero gap on every row.
    oracle = first.oof[["symbol", "ts", "p_sell", "p_hold", "p_buy"]]
    again = train_ensemble(
        features, labels, members=["xgboost"], config=config, oracle=oracle, progress=False
    )
    assert again.metrics["oracle"]["n"] == len(first.oof)
    assert again.metrics["oracle"]["accuracy_gap"] == 0.0
    assert again.metrics["oracle"]["log_loss_gap"] == 0.0
