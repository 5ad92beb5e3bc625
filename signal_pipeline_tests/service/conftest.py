"""A small champion in a real (temporary) MLflow registry, shared by the service tests.

Tiny tree members on the reduced feature spec of the inference tests train in a few
seconds; the spec and a drift reference are logged with the training run, as the service
expects. The environment points MLflow, the signals database and the serving copy at
temporary folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import mlflow
import pandas as pd
import pytest
import yaml

from signal_pipeline.inference.drift import DriftReference
from signal_pipeline.registry.aliases import register_version, set_alias
from signal_pipeline.registry.pyfunc import input_example, log_ensemble_model
from signal_pipeline.registry.tracking import configure_tracking, ensure_experiment
from signal_pipeline_tests.inference.conftest import SPEC, Trained, _train, just_after, recent_bars


@dataclass
class Champion:
    trained: Trained
    tracking_uri: str
    version: str
    env: dict[str, str]


def request_body(bars: pd.DataFrame, symbol: str, n: int = 300) -> dict:
    """A /signal body of the last ``n`` bars of ``symbol``, judged one minute after them."""
    recent = recent_bars(bars, symbol, n)
    rows = [
        {
            "ts": ts.isoformat(),
            "open": float(o),
            "high": float(h),
            "low": float(lo),
            "close": float(c),
            "volume": float(v),
        }
        for ts, o, h, lo, c, v in recent[
            ["ts", "open", "high", "low", "close", "volume"]
        ].itertuples(index=False)
    ]
    return {"symbol": symbol, "bars": rows, "as_of": just_after(recent).isoformat()}


@pytest.fixture(scope="session")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    tmp = tmp_path_factory.mktemp("service")
    trained = _train(tmp, ["xgboost", "random_forest"], "ensemble")
    previous = mlflow.get_tracking_uri()
    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    uri = configure_tracking(f"sqlite:///{tmp / 'mlflow.db'}")
    ensure_experiment(artifact_root=tmp / "mlartifacts")
    spec_file = tmp / "feature_spec.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC))
    reference = DriftReference.from_features(trained.features, trained.ensemble.feature_names)
    reference.save(tmp / "drift_reference.parquet")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(spec_file))
        mlflow.log_artifact(str(tmp / "drift_reference.parquet"))
    example = input_example(trained.features, list(trained.ensemble.feature_names))
    info = log_ensemble_model(trained.folder, example, run_id=run.info.run_id)
    version = register_version(info.model_uri, {"test": "service"}, run_id=run.info.run_id)
    set_alias(version.version, "champion", "service tests")
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(previous)
    for key, value in saved_env.items():  # set_tracking_uri writes the variable too
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    env = {
        "MLFLOW_TRACKING_URI": uri,
        "SIGNAL_PIPELINE_SIGNALS_DB": f"sqlite:///{tmp / 'signals.db'}",
        "SIGNAL_PIPELINE_MONITOR_SNAPSHOT_S": "0",
    }
    return Champion(trained, uri, str(version.version), env)


@pytest.fixture(scope="module", autouse=True)
def service_env(champion: Champion) -> Iterator[dict[str, str]]:
    """The champion's registry and a temporary signals DB, for this module's tests only."""
    saved = {k: os.environ.get(k) for k in champion.env}
    os.environ.update(champion.env)
    yield champion.env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
