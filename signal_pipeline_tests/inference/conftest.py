"""A small trained ensemble on simulated bars, built once per test session.

Tiny members and a reduced feature spec (1m + 5m, no microstructure or options) keep
training to a few seconds; the engine's contract does not depend on model size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from signal_pipeline.data import simulate_market
from signal_pipeline.features import compute_features, load_feature_spec
from signal_pipeline.features.spec import FeatureSpec
from signal_pipeline.labels import triple_barrier_labels
from signal_pipeline.models import TrainedEnsemble, train_ensemble

SPEC: dict[str, Any] = {
    "timeframes": ["1m", "5m"],
    "technical": {
        "atr": {"period": 14},
        "rsi": {"period": 14},
        "ema": {"period": [5, 20]},
        "macd": {},
        "realized_vol": {"period": 20},
        "roc": {"period": [1, 5]},
        "bbands": {},
    },
    "microstructure": {"enabled": False},
    "options": {"enabled": False},
}

FAST: dict[str, Any] = {
    "xgboost": {"n_estimators": 15, "max_depth": 3, "n_jobs": 1},
    "random_forest": {"n_estimators": 15, "max_depth": 5, "n_jobs": 1},
    "lstm": {
        "epochs": 1,
        "hidden_units": 8,
        "sequence_length": 10,
        "batch_size": 256,
        "patience": 1,
        "num_threads": 1,
        "device": "cpu",
    },
    "cv": {"n_splits": 3},
}

SYMBOLS = ["AAA", "BBB", "CCC"]


@dataclass
class Trained:
    spec: FeatureSpec
    bars: pd.DataFrame
    features: pd.DataFrame
    labels: pd.DataFrame
    ensemble: TrainedEnsemble
    folder: Path


def _train(tmp: Path, members: list[str], name: str) -> Trained:
    spec = load_feature_spec(SPEC)
    market = simulate_market(SYMBOLS, 4, seed=7, option_chains=False)
    features = compute_features(market.bars, spec)
    labels = triple_barrier_labels(market.bars)
    trained = train_ensemble(features, labels, config=FAST, members=members, progress=False)
    folder = trained.save(tmp / name)
    return Trained(spec, market.bars, features, labels, trained, folder)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """XGBoost + random forest (no LSTM): the fast ensemble most tests use."""
    return _train(tmp_path_factory.mktemp("inference"), ["xgboost", "random_forest"], "trees")


@pytest.fixture(scope="session")
def trained_lstm(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """All three members (LSTM with a 10-row sequence): the slow tests."""
    return _train(tmp_path_factory.mktemp("inference"), ["xgboost", "random_forest", "lstm"], "all")


def recent_bars(bars: pd.DataFrame, symbol: str, n: int = 300) -> pd.DataFrame:
    return bars[bars["symbol"] == symbol].tail(n).reset_index(drop=True)


def just_after(bars: pd.DataFrame) -> pd.Timestamp:
    """A ``now`` one minute after the last bar: fresh data."""
    return pd.Timestamp(bars["ts"].iloc[-1]) + pd.Timedelta(minutes=1)
