"""The trained-models layer through Dagster, in-process, on a tiny synthetic feature table
in a temporary warehouse and a real MLflow store."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from mlflow import MlflowClient

from signal_pipeline.data.storage import Warehouse
from signal_pipeline.defs.resources import MlflowResource, WarehouseResource
from signal_pipeline.defs.trained_models import assets as trained_models
from signal_pipeline.defs.trained_models.checks import promotion_policy
from signal_pipeline.registry.aliases import CHALLENGER, CHAMPION, MODEL_NAME, alias_version
from signal_pipeline.registry.lineage import lineage
from signal_pipeline.registry.promotion import GateFigures, decide_promotion
from signal_pipeline_tests.models.synthetic import planted_market

ASSETS = [
    trained_models.training_set,
    trained_models.xgboost_model,
    trained_models.random_forest_model,
    trained_models.lstm_model,
    trained_models.ensemble_model,
    trained_models.model_evaluation,
    trained_models.registered_model,
]
RUN_CONFIG = {
    "ops": {f"{m}_model": {"config": {"n_trials": 2}} for m in ("xgboost", "random_forest", "lstm")}
}


@pytest.fixture(scope="module")
def warehouse_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """raw_bars and a feature_table whose columns match training.feature_include."""
    root = tmp_path_factory.mktemp("warehouse")
    bars, features = planted_market(days=4)
    store = Warehouse(root)
    store.write_partitioned("raw_bars", bars)
    renamed = features.rename(
        columns={"signal_1_1m": "roc_1_1m", "noise_a_1m": "rsi_14_1m", "noise_b_1m": "cci_20_1m"}
    )
    store.write_partitioned("feature_table", renamed.assign(feature_spec_hash="spec-hash-1"))
    return root


@pytest.mark.slow
def test_training_layer_materialises_registers_and_gates_promotion(
    warehouse_root: Path, tracking_uri: str
) -> None:
    resources = {
        "warehouse": WarehouseResource(root=str(warehouse_root)),
        "mlflow": MlflowResource(tracking_uri=tracking_uri),
    }
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [*ASSETS, promotion_policy],
            resources=resources,
            run_config=RUN_CONFIG,
            instance=instance,
            raise_on_error=False,
        )
        materialised = {
            e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
        }
        assert materialised == {a.key.to_user_string() for a in ASSETS}
        meta = {
            e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()
        }
        assert meta["training_set"]["feature_spec_hash"].value == "spec-hash-1"
        assert meta["training_set"]["n_features"].value == 3
        assert (
            meta["xgboost_model"]["tuned_oof_log_loss"].value
            <= meta["xgboost_model"]["default_oof_log_loss"].value
        )
        assert "data:image/png;base64" in meta["ensemble_model"]["reliability"].value
        assert "mlflow_run" in meta["registered_model"]

        version = meta["registered_model"]["version"].value
        mv = MlflowClient().get_model_version(MODEL_NAME, version)
        assert mv.tags["dagster_run_id"] == result.run_id
        assert mv.tags["feature_spec_hash"] == "spec-hash-1"
        assert mv.tags["training_data_hash"] == meta["training_set"]["training_data_hash"].value
        assert str(alias_version(CHALLENGER).version) == str(version)
        info = lineage(version)
        assert info["dagster_run_id"] == result.run_id
        run = MlflowClient().get_run(info["mlflow_run_id"])
        assert run.data.tags["feature_table_run_id"] == "unknown"  # no feature_table run here
        assert run.data.metrics["oof_log_loss"] == pytest.approx(
            meta["ensemble_model"]["oof_log_loss"].value
        )
        ensemble_folder = Path(meta["ensemble_model"]["path"].value)
        assert (ensemble_folder.parent / "importance.parquet").is_file()

        # The blocking check applied the policy exactly as the pure function decides.
        (evaluation,) = result.get_asset_check_evaluations()
        figures = GateFigures.from_tags(mv.tags)
        expected = decide_promotion(figures, None).promote
        assert evaluation.passed == expected
        champion = alias_version(CHAMPION)
        assert (champion is not None and str(champion.version) == str(version)) == expected

        # A second registration of the same model cannot beat it (a tie is no win) or
        # fails the same gates: the check refuses and champion stays where it was.
        again = dg.materialize(
            [trained_models.registered_model, promotion_policy],
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
        (second,) = again.get_asset_check_evaluations()
        assert second.passed is False
        assert "refused" in str(second.metadata["decision"].value)
        after = alias_version(CHAMPION)
        assert (after.version if after else None) == (champion.version if champion else None)
        assert np.isfinite(meta["registered_model"]["oof_log_loss"].value)
