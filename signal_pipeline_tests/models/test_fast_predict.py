"""The fast prediction paths equal the library ones bit for bit: the flattened random
forest against scikit-learn, and the LSTM's last-row prediction against predict_proba."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from signal_pipeline.models.base import ModelError, expand_proba
from signal_pipeline.models.forest import RandomForestModel
from signal_pipeline.models.lstm import _MIN_BATCH, LSTMModel


def _forest_data(seed: int, nan_share: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 12)) * np.array([1e-3, 1, 10, 1e4] * 3)
    y = ((X[:, 0] > 0).astype(int) + (X[:, 5] > 0.5).astype(int)).astype(np.int64)
    X[rng.random(X.shape) < nan_share] = np.nan
    return X, y


def _sklearn(model: RandomForestModel, X: np.ndarray) -> np.ndarray:
    return expand_proba(model.estimator_.predict_proba(X), model.present_classes_)


def _near_thresholds(model: RandomForestModel, rows: np.ndarray) -> np.ndarray:
    """Rows whose values sit on, and one float64 step either side of, split thresholds:
    where the float32 cast decides the branch."""
    out = rows.copy()
    rng = np.random.default_rng(3)
    for i in range(len(out)):
        tree = model.estimator_.estimators_[i % len(model.estimator_.estimators_)].tree_
        # (A split that only separates NaN has threshold inf: no neighbour to test.)
        splits = np.flatnonzero((tree.children_left >= 0) & np.isfinite(tree.threshold))
        for node in rng.choice(splits, size=min(5, len(splits)), replace=False):
            t = tree.threshold[node]
            out[i, tree.feature[node]] = [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)][
                i % 3
            ]
    return out


@pytest.mark.parametrize("nan_share", [0.0, 0.1], ids=["trained_without_nan", "with_nan"])
def test_flat_forest_equals_scikit_learn_exactly(nan_share: float) -> None:
    X, y = _forest_data(0, nan_share)
    model = RandomForestModel(n_estimators=25, max_depth=None, min_samples_leaf=1, n_jobs=1)
    model.fit(X, y)
    test, _ = _forest_data(1, 0.0)
    with_nan = test.copy()
    with_nan[np.random.default_rng(2).random(test.shape) < 0.3] = np.nan
    for rows in (test, with_nan, _near_thresholds(model, test), X):
        expected = _sklearn(model, rows)
        assert np.array_equal(model.predict_proba(rows), expected)
        # One row at a time, as a live request gives it.
        for i in range(0, len(rows), 97):
            assert np.array_equal(model.predict_proba(rows[i : i + 1]), expected[i : i + 1])


def test_flat_forest_with_a_missing_class_and_after_load(tmp_path: Path) -> None:
    X, y = _forest_data(4, 0.05)
    y = np.where(y == 1, 2, y)  # HOLD never seen: its column stays 0
    model = RandomForestModel(n_estimators=15, max_depth=8, n_jobs=1).fit(X, y)
    loaded = RandomForestModel.load(model.save(tmp_path / "rf"))
    assert np.array_equal(loaded.predict_proba(X), _sklearn(loaded, X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert (model.predict_proba(X)[:, 1] == 0).all()


@pytest.mark.parametrize("bad", [np.inf, -np.inf, 1e39], ids=["inf", "-inf", "float32_overflow"])
def test_flat_forest_refuses_what_scikit_learn_refuses(bad: float) -> None:
    X, y = _forest_data(5, 0.0)
    model = RandomForestModel(n_estimators=5, max_depth=4, n_jobs=1).fit(X, y)
    rows = X[:3].copy()
    rows[1, 2] = bad
    with pytest.raises(ValueError, match="infinity"):
        model.estimator_.predict_proba(rows)
    with pytest.raises(ModelError, match="infinity or a value too large for float32"):
        model.predict_proba(rows)


def _lstm_data(n: int = 700, n_features: int = 102) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, n_features)) * rng.uniform(0.01, 100, n_features)
    y = rng.integers(0, 3, n)
    X[rng.random(X.shape) < 0.01] = np.nan
    return X, y


@pytest.fixture(scope="module")
def spec_sized_lstm() -> tuple[LSTMModel, np.ndarray]:
    """The spec's LSTM shape (64 units, 50-row sequences) on ~100 features, one epoch:
    the GEMM kernels oneDNN picks depend on these sizes."""
    X, y = _lstm_data()
    model = LSTMModel(epochs=1, device="cpu", num_threads=1, batch_size=128)
    return model.fit(X, y), X


def test_lstm_predict_last_equals_the_last_row_of_predict_proba(
    spec_sized_lstm: tuple[LSTMModel, np.ndarray],
) -> None:
    model, X = spec_sized_lstm
    length = int(model.params["sequence_length"])
    full = model.predict_proba(X)
    # Windows shorter than the sequence (front padding), exactly one sequence, longer.
    for end in [1, 2, 7, length - 1, length, length + 1, *range(length + 5, len(X) + 1, 37)]:
        rows = X[max(0, end - length - 3) : end]
        assert np.array_equal(model.predict_last(rows), full[end - 1 : end]), end
    # Fewer rows than the minimum batch: predict_proba pads its batch the same way.
    few = X[: _MIN_BATCH // 2]
    assert np.array_equal(model.predict_last(few), model.predict_proba(few)[-1:])


def test_lstm_outputs_do_not_depend_on_the_batch(
    spec_sized_lstm: tuple[LSTMModel, np.ndarray],
) -> None:
    """What makes predict_last exact: a sequence's output is the same whatever the size
    of its batch (padded to at least _MIN_BATCH), its position and its neighbours."""
    model, X = spec_sized_lstm
    length = int(model.params["sequence_length"])
    scaled = model._standardise(X).astype(np.float32)
    windows = np.stack([scaled[e - length : e] for e in range(length, len(X) + 1)])
    rng = np.random.default_rng(0)
    target = windows[-1]
    with torch.inference_mode():
        alone = model._proba(torch.from_numpy(target[None].copy()))
        for n in (2, _MIN_BATCH - 1, _MIN_BATCH, _MIN_BATCH + 3, 64, 300):
            batch = windows[rng.choice(len(windows) - 1, size=n, replace=False)]
            at = int(rng.integers(n))
            batch[at] = target
            assert np.array_equal(model._proba(torch.from_numpy(batch))[at], alone[0]), n


def test_lstm_predict_last_on_a_keyed_frame(fast_config: dict) -> None:
    rng = np.random.default_rng(1)
    ts = pd.date_range("2024-01-02 14:31", periods=60, freq="min", tz="UTC")
    frame = pd.DataFrame(
        {
            "symbol": np.repeat(["AAA", "BBB"], 60),
            "ts": np.tile(ts, 2),
            "f1": rng.normal(size=120),
            "f2": rng.normal(size=120),
        }
    ).sample(frac=1.0, random_state=0)  # rows out of (symbol, ts) order
    y = rng.integers(0, 3, 120)
    model = LSTMModel(fast_config["lstm"]).fit(frame, y)
    assert np.array_equal(model.predict_last(frame), model.predict_proba(frame)[-1:])


def test_lstm_predict_last_refuses_bad_input(
    spec_sized_lstm: tuple[LSTMModel, np.ndarray],
) -> None:
    model, X = spec_sized_lstm
    with pytest.raises(ModelError, match="at least one row"):
        model.predict_last(X[:0])
    with pytest.raises(ModelError, match="features"):
        model.predict_last(X[:, :5])
    with pytest.raises(ModelError, match="2-D"):
        model.predict_last(X[0])
