"""Tracking → pyfunc → registry → aliases → promotion → lineage, on a real MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from signal_pipeline.models import TrainedEnsemble
from signal_pipeline.registry.aliases import (
    CHALLENGER,
    CHAMPION,
    MODEL_NAME,
    alias_version,
    register_version,
    set_alias,
)
from signal_pipeline.registry.errors import RegistryError
from signal_pipeline.registry.lineage import lineage, resolve_version
from signal_pipeline.registry.promotion import GateFigures, apply_promotion
from signal_pipeline.registry.pyfunc import input_example, log_ensemble_model, to_model_input
from signal_pipeline.registry.tracking import (
    TrainingTags,
    finish_run,
    log_importance,
    log_training_run,
)

TAGS = TrainingTags(
    dagster_run_id="dagster-run-1",
    training_data_hash="a" * 64,
    feature_spec_hash="b" * 64,
    code_version="test-code",
)
GOOD = GateFigures(oof_log_loss=0.90, holdout_ece=0.02, leakage_alarm_passed=True)


@pytest.fixture(scope="module")
def logged(tracking_uri: str, trained: tuple, planted: tuple) -> dict:
    """One training run with the pyfunc model logged in it, registered as version 1."""
    result, folder = trained
    _, features, _ = planted
    run_id = log_training_run(result, TAGS)
    importance = pd.DataFrame(
        {
            "member": ["xgboost"],
            "kind": ["gain"],
            "feature": ["x"],
            "importance": [1.0],
            "std": [np.nan],
            "rank": [1],
        }
    )
    log_importance(run_id, importance, None)
    info = log_ensemble_model(folder, input_example(features, result.feature_names), run_id=run_id)
    finish_run(run_id)
    version = register_version(info.model_uri, {**TAGS.as_dict(), **GOOD.as_tags()}, run_id=run_id)
    return {"run_id": run_id, "model_uri": info.model_uri, "version": version.version}


@pytest.mark.slow
def test_training_run_holds_params_fold_metrics_artifacts_and_tags(logged: dict) -> None:
    client = MlflowClient()
    run = client.get_run(logged["run_id"])
    assert run.data.params["xgboost.n_estimators"] == "20"
    assert run.data.params["cv.n_splits"] == "3"
    assert 0 < run.data.metrics["oof_log_loss"] < 2
    for key, value in TAGS.as_dict().items():
        assert run.data.tags[key] == value
    folds = client.get_metric_history(logged["run_id"], "fold_log_loss")
    assert sorted(m.step for m in folds) == [0, 1, 2]
    xgb_folds = client.get_metric_history(logged["run_id"], "xgboost_fold_accuracy")
    assert len(xgb_folds) == 3
    paths = {a.path for a in client.list_artifacts(logged["run_id"])}
    assert {"metrics.json", "oof.parquet", "plots", "importance"} <= paths
    plots = {a.path for a in client.list_artifacts(logged["run_id"], "plots")}
    assert "plots/reliability_oof.png" in plots


@pytest.mark.slow
def test_champion_loaded_from_registry_predicts_exactly_like_memory(
    logged: dict, trained: tuple, planted: tuple
) -> None:
    result, folder = trained
    _, features, _ = planted
    set_alias(logged["version"], CHAMPION, "test: first model")
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHAMPION}")
    rows = features.dropna().reset_index(drop=True)
    served = model.predict(to_model_input(rows, result.feature_names))
    expected = result.predict_signal(rows)
    columns = ["p_sell", "p_hold", "p_buy", "confidence"]
    np.testing.assert_array_equal(served[columns].to_numpy(), expected[columns].to_numpy())
    assert served["signal"].tolist() == expected["signal"].tolist()
    # ... and so does the folder reloaded from disk (what the pyfunc wraps).
    reloaded = TrainedEnsemble.load(folder).predict_signal(rows)
    np.testing.assert_array_equal(reloaded[columns].to_numpy(), expected[columns].to_numpy())
    signature = model.metadata.get_input_schema()
    assert signature.input_names()[:2] == ["symbol", "ts"]


@pytest.mark.slow
def test_alias_changes_are_tagged_with_reason_time_and_previous_holder(logged: dict) -> None:
    client = MlflowClient()
    second = register_version(logged["model_uri"], TAGS.as_dict(), run_id=logged["run_id"])
    first_change = set_alias(logged["version"], CHALLENGER, "first candidate")
    change = set_alias(second.version, CHALLENGER, "newer candidate")
    assert change.previous_version == str(logged["version"])
    tags = client.get_model_version(MODEL_NAME, second.version).tags
    assert tags["challenger.reason"] == "newer candidate"
    assert tags["challenger.previous_version"] == str(logged["version"])
    assert pd.Timestamp(tags["challenger.set_at"]).tzinfo is not None
    old = client.get_model_version(MODEL_NAME, logged["version"]).tags
    assert old["challenger.replaced_by"] == str(second.version)
    assert first_change.previous_version is None
    assert str(alias_version(CHALLENGER).version) == str(second.version)
    with pytest.raises(RegistryError, match="reason"):
        set_alias(second.version, CHALLENGER, " ")


@pytest.mark.slow
def test_promotion_policy_on_the_registry(logged: dict) -> None:
    client = MlflowClient()
    set_alias(logged["version"], CHAMPION, "test: baseline champion")
    champion = logged["version"]

    def candidate(figures: GateFigures) -> str:
        return register_version(
            logged["model_uri"], {**TAGS.as_dict(), **figures.as_tags()}, run_id=logged["run_id"]
        ).version

    worse = candidate(GateFigures(0.95, 0.02, True))
    decision = apply_promotion(worse)
    assert not decision.promote and not decision.gates["beats_champion"]
    assert str(alias_version(CHAMPION).version) == str(champion)
    assert client.get_model_version(MODEL_NAME, worse).tags["promotion.decision"] == "refused"

    leaky = candidate(GateFigures(0.80, 0.02, False))
    decision = apply_promotion(leaky)
    assert not decision.promote and not decision.gates["no_leakage"]
    assert "FIRED" in decision.summary()

    uncalibrated = candidate(GateFigures(0.80, 0.08, True))
    assert not apply_promotion(uncalibrated).gates["calibrated"]
    assert str(alias_version(CHAMPION).version) == str(champion)

    better = candidate(GateFigures(0.85, 0.03, True))
    decision = apply_promotion(better)
    assert decision.promote
    holder = alias_version(CHAMPION)
    assert str(holder.version) == str(better)
    assert holder.tags["champion.previous_version"] == str(champion)
    assert holder.tags["champion.reason"].startswith("promote: OOF log loss 0.8500 beats")
    assert apply_promotion(better).gates == {"already_champion": True}


@pytest.mark.slow
def test_lineage_from_a_version_back_to_dagster_run_and_data(logged: dict) -> None:
    info = lineage(f"{MODEL_NAME}/{logged['version']}")
    assert info["mlflow_run_id"] == logged["run_id"]
    assert info["dagster_run_id"] == "dagster-run-1"
    assert info["training_data_hash"] == "a" * 64
    assert info["feature_spec_hash"] == "b" * 64
    assert info["code_version"] == "test-code"
    assert info["mlflow_run_link"].endswith(f"/runs/{logged['run_id']}")
    assert info["promotion"]["figures"]["holdout_ece"] == pytest.approx(0.02)
    assert str(resolve_version(int(logged["version"])).version) == str(logged["version"])
    by_uri = resolve_version(f"models:/{MODEL_NAME}/{logged['version']}")
    assert str(by_uri.version) == str(logged["version"])
    with pytest.raises(RegistryError, match="no version"):
        resolve_version("999")
    with pytest.raises(RegistryError, match="alias"):
        resolve_version("@nobody")


def test_version_numbers_are_strings_in_paths(tmp_path: Path) -> None:
    # Guards the signal contract: a signal stores 'signal-ensemble/<version>'.
    from signal_pipeline.registry.lineage import signal_model_version

    assert signal_model_version(3) == "signal-ensemble/3"
