"""Soft voting, renormalised weights, the confidence threshold, and save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.models import (
    ModelError,
    RandomForestModel,
    SoftVotingEnsemble,
    TemperatureCalibrator,
    XGBoostModel,
    apply_threshold,
    soft_vote,
)
from signal_pipeline_tests.models.conftest import FAST_CONFIG

A = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
B = np.array([[0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
C = np.array([[1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]])
WEIGHTS = {"xgboost": 0.4, "random_forest": 0.3, "lstm": 0.3}


def test_soft_vote_is_the_weighted_mean() -> None:
    got = soft_vote({"xgboost": A, "random_forest": B, "lstm": C}, WEIGHTS)
    expected = 0.4 * A + 0.3 * B + 0.3 * C  # hand: row 0 = [0.21, 0.25, 0.54]
    np.testing.assert_allclose(got, expected, atol=1e-15)
    np.testing.assert_allclose(got[0], [0.21, 0.25, 0.54], atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-15)


def test_weights_are_renormalised_when_a_member_is_absent() -> None:
    got = soft_vote({"xgboost": A, "random_forest": B}, WEIGHTS)
    np.testing.assert_allclose(got, (0.4 * A + 0.3 * B) / 0.7, atol=1e-15)


def test_threshold_turns_unsure_signals_into_hold() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.5, 0.1, 0.4], [0.05, 0.3, 0.65]])
    signal, confidence = apply_threshold(proba, 0.6)
    assert signal.tolist() == [0, 1, 2]
    np.testing.assert_allclose(confidence, [0.7, 0.1, 0.65])


def _members() -> tuple[dict, pd.DataFrame]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = np.digitize(X["a"] + rng.normal(0, 0.5, 300), [-0.5, 0.5])
    members = {
        "xgboost": XGBoostModel(FAST_CONFIG["xgboost"]).fit(X, y),
        "random_forest": RandomForestModel(FAST_CONFIG["random_forest"]).fit(X, y),
    }
    return members, X


def test_ensemble_probabilities_sum_to_one_and_survive_save_load(tmp_path: Path) -> None:
    members, X = _members()
    calibrator = TemperatureCalibrator()
    calibrator.temperature_ = 1.7
    ensemble = SoftVotingEnsemble(members, WEIGHTS, calibrator=calibrator)
    proba = ensemble.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    signals = ensemble.predict_signal(X)
    assert set(signals["signal"]) <= {"SELL", "HOLD", "BUY"}
    sure = signals[["p_sell", "p_hold", "p_buy"]].max(axis=1) >= 0.6
    assert (signals.loc[~sure, "signal"] == "HOLD").all()
    loaded = SoftVotingEnsemble.load(ensemble.save(tmp_path / "ens"))
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    assert loaded.weights == {"xgboost": 0.4, "random_forest": 0.3}


def test_a_member_without_weight_is_refused() -> None:
    members, _ = _members()
    with pytest.raises(ModelError, match="weight"):
        SoftVotingEnsemble(members, {"xgboost": 1.0})
