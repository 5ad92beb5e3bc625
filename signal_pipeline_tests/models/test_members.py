"""The member contract: XGBoost, Random Forest and LSTM behave the same from outside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.models import (
    LSTMModel,
    ModelError,
    ModelNotFittedError,
    RandomForestModel,
    XGBoostModel,
    load_model,
    load_model_config,
)
from signal_pipeline.models.base import SignalModel
from signal_pipeline_tests.models.conftest import FAST_CONFIG

MEMBERS = [XGBoostModel, RandomForestModel, LSTMModel]


def _table(n_per_symbol: int = 150, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-02 14:31", periods=n_per_symbol, freq="min", tz="UTC")
    X = pd.DataFrame(
        {
            "symbol": np.repeat(["AAA", "BBB"], n_per_symbol),
            "ts": np.tile(ts, 2),
            "x_1_1m": rng.normal(size=2 * n_per_symbol),
            "z_1_1m": rng.normal(size=2 * n_per_symbol),
        }
    )
    y = np.digitize(X["x_1_1m"], [-0.5, 0.5])  # SELL below -0.5, BUY above 0.5
    return X, y


def _model(cls: type[SignalModel]) -> SignalModel:
    return cls(FAST_CONFIG[cls.kind])


@pytest.mark.parametrize("cls", MEMBERS, ids=lambda c: c.kind)
def test_fit_returns_self_and_probabilities_are_three_columns_summing_to_one(
    cls: type[SignalModel],
) -> None:
    X, y = _table()
    model = _model(cls)
    assert model.fit(X, y) is model
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert (proba >= 0).all()
    assert model.n_features_in_ == 2
    assert model.feature_names_in_ == ["x_1_1m", "z_1_1m"]  # keys are never features


@pytest.mark.parametrize("cls", [XGBoostModel, RandomForestModel], ids=lambda c: c.kind)
def test_trees_learn_a_label_that_is_a_function_of_a_feature(cls: type[SignalModel]) -> None:
    X, y = _table()
    model = _model(cls).fit(X.iloc[::2], y[::2])
    assert (model.predict(X.iloc[1::2]) == y[1::2]).mean() > 0.9


@pytest.mark.parametrize("cls", MEMBERS, ids=lambda c: c.kind)
def test_a_class_missing_from_training_keeps_its_column_at_zero(cls: type[SignalModel]) -> None:
    X, y = _table()
    y_no_hold = np.where(y == 1, 2, y)
    proba = _model(cls).fit(X, y_no_hold).predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert (proba[:, 1] == 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("cls", MEMBERS, ids=lambda c: c.kind)
def test_a_single_training_class_gives_certainty_in_it(cls: type[SignalModel]) -> None:
    X, _ = _table(n_per_symbol=30)
    proba = _model(cls).fit(X, np.full(len(X), 2)).predict_proba(X)
    np.testing.assert_allclose(proba, np.tile([0.0, 0.0, 1.0], (len(X), 1)), atol=1e-12)


@pytest.mark.parametrize("cls", MEMBERS, ids=lambda c: c.kind)
def test_save_and_load_reproduce_predictions_exactly(
    cls: type[SignalModel], tmp_path: Path
) -> None:
    X, y = _table()
    model = _model(cls).fit(X, y)
    folder = model.save(tmp_path / cls.kind)
    loaded = load_model(folder)
    assert type(loaded) is cls
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert not list(folder.glob("*.pkl")) and not list(folder.glob("*.joblib"))


@pytest.mark.parametrize("cls", MEMBERS, ids=lambda c: c.kind)
def test_unfitted_and_mismatched_inputs_are_refused(cls: type[SignalModel]) -> None:
    X, y = _table(n_per_symbol=30)
    with pytest.raises(ModelNotFittedError, match="fit"):
        _model(cls).predict_proba(X)
    model = _model(cls).fit(X, y)
    with pytest.raises(ModelError, match="features"):
        model.predict_proba(X.drop(columns="z_1_1m"))
    with pytest.raises(ModelError, match="SELL"):
        _model(cls).fit(X, np.full(len(X), 3))


def test_params_default_to_the_spec_values() -> None:
    assert XGBoostModel().params["objective"] == "multi:softprob"
    assert XGBoostModel().params["max_depth"] == 6
    assert RandomForestModel().params["min_samples_leaf"] == 2
    lstm = LSTMModel({"epochs": 2})
    assert (lstm.params["sequence_length"], lstm.params["hidden_units"]) == (50, 64)
    assert lstm.params["epochs"] == 2
    config = load_model_config()
    assert config["ensemble"]["weights"] == [0.4, 0.3, 0.3]
    assert config["ensemble"]["confidence_threshold"] == 0.6


def test_lstm_is_deterministic_for_a_seed() -> None:
    X, y = _table()
    first = _model(LSTMModel).fit(X, y).predict_proba(X)
    second = _model(LSTMModel).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)


def test_lstm_sequences_follow_symbol_and_time_not_row_order() -> None:
    X, y = _table()
    model = _model(LSTMModel).fit(X, y)
    order = np.random.default_rng(1).permutation(len(X))
    shuffled = model.predict_proba(X.iloc[order])
    np.testing.assert_allclose(shuffled, model.predict_proba(X)[order], rtol=0, atol=1e-12)


def test_lstm_window_sees_only_its_own_symbols_past() -> None:
    X, y = _table()
    model = _model(LSTMModel).fit(X, y)
    base = model.predict_proba(X)
    # Changing BBB's rows, or AAA's later rows, must not move an AAA row's prediction.
    changed = X.copy()
    changed.loc[changed["symbol"] == "BBB", "x_1_1m"] += 5.0
    changed.loc[changed.index[100:150], "x_1_1m"] -= 5.0  # AAA rows 100-149
    moved = model.predict_proba(changed)
    np.testing.assert_allclose(moved[:100], base[:100], rtol=0, atol=1e-12)
    assert not np.allclose(moved[150:], base[150:])


def test_xgboost_and_forest_rank_the_informative_feature_first() -> None:
    X, y = _table()
    for model in (_model(XGBoostModel).fit(X, y), _model(RandomForestModel).fit(X, y)):
        importance: dict[str, Any] = model.feature_importance()
        assert max(importance, key=importance.get) == "x_1_1m"


def test_lstm_reads_keys_from_the_index_as_well_as_from_columns() -> None:
    X, y = _table()
    model = _model(LSTMModel).fit(X, y)
    indexed = X.set_index(["symbol", "ts"])
    np.testing.assert_array_equal(model.predict_proba(indexed), model.predict_proba(X))
