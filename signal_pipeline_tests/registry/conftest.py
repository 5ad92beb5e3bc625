"""A real MLflow store (SQLite + a local artifact folder) in a temporary directory, and a
small trained ensemble on the planted-signal market, shared by the registry tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from signal_pipeline.labels import triple_barrier_labels
from signal_pipeline.models import TrainedEnsemble, train_ensemble
from signal_pipeline.registry.tracking import configure_tracking
from signal_pipeline_tests.models.conftest import FAST_CONFIG
from signal_pipeline_tests.models.synthetic import planted_market

CV = {"n_splits": 3, "embargo": "15min"}


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh SQLite tracking + registry store per test module (restored afterwards)."""
    folder = tmp_path_factory.mktemp("mlflow")
    previous = mlflow.get_tracking_uri()
    uri = configure_tracking(f"sqlite:///{folder / 'mlflow.db'}")
    yield uri
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(previous)


@pytest.fixture(scope="session")
def planted() -> tuple:
    bars, features = planted_market(days=3)
    return bars, features, triple_barrier_labels(bars)


@pytest.fixture(scope="session")
def trained(
    planted: tuple, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainedEnsemble, Path]:
    """(ensemble, its saved folder), trained once with tiny members and the leakage check."""
    _, features, labels = planted
    result = train_ensemble(
        features,
        labels,
        config={**FAST_CONFIG, "cv": CV},
        leakage_check=True,
        progress=False,
    )
    folder = result.save(tmp_path_factory.mktemp("ensemble") / "ensemble")
    return result, folder
