"""backtest_report and strategy_optimisation through Dagster, in-process: the upstreams
(raw_bars, benchmark_bars, a registered model version with its OOF frame in a real
MLflow store) are prepared directly, and only the backtest assets are materialised."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from signal_pipeline.data.storage import Warehouse
from signal_pipeline.defs.backtest_reports.assets import backtest_report, strategy_optimisation
from signal_pipeline.defs.backtest_reports.checks import report_stored
from signal_pipeline.defs.resources import MlflowResource, WarehouseResource
from signal_pipeline.registry.tracking import configure_tracking
from signal_pipeline.settings import get_settings
from signal_pipeline_tests.backtest.test_model_backtest import foresight_oof, register_oof
from signal_pipeline_tests.models.synthetic import planted_market


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A warehouse with raw_bars and benchmark_bars, and an MLflow store where version 1
    of signal-ensemble is a run holding the OOF frame."""
    root = tmp_path_factory.mktemp("backtest_assets")
    bars, _ = planted_market(days=4)
    benchmarks, _ = planted_market(symbols=("SPY", "QQQ"), days=4, seed=11)
    store = Warehouse(root / "warehouse")
    store.write_partitioned("raw_bars", bars)
    store.write_partitioned("benchmark_bars", benchmarks)
    previous = mlflow.get_tracking_uri()
    uri = configure_tracking(f"sqlite:///{root / 'mlflow.db'}")
    oof = foresight_oof(bars)
    version, run_id = register_oof(oof, root / "upload")
    yield {
        "resources": {
            "warehouse": WarehouseResource(root=str(root / "warehouse")),
            "mlflow": MlflowResource(tracking_uri=uri),
        },
        "version": version,
        "run_id": run_id,
        "oof": oof,
    }
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(previous)


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict[str, object]:
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key
    ]
    assert len(events) == 1
    return {k: getattr(v, "value", v) for k, v in events[0].materialization.metadata.items()}


@pytest.mark.slow  # MLflow store creation and the report's figures take ~10 s
def test_backtest_report_of_the_latest_registered_version(upstream: dict) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        # As if registered_model had just registered version 1.
        instance.report_runless_asset_event(
            dg.AssetMaterialization("registered_model", metadata={"version": upstream["version"]})
        )
        result = dg.materialize(
            [backtest_report, report_stored], resources=upstream["resources"], instance=instance
        )
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.passed, check.metadata
    meta = _metadata(result, "backtest_report")
    assert meta["model_version"] == "signal-ensemble/1"
    assert meta["oof_rows"] == len(upstream["oof"]) and meta["signals"] > 0
    assert meta["total_return"] > 0  # foresight predictions must earn
    assert "| sharpe" in meta["metrics"] and "beta vs QQQ" in meta["metrics"]
    assert str(meta["equity"]).startswith("![equity vs SPY and QQQ](data:image/png;base64,")
    report = Path(str(meta["report"]))
    assert report == get_settings().reports_dir / "backtest-signal-ensemble-v1.html"
    assert "data:image/png;base64," in report.read_text()
    artifacts = MlflowClient().list_artifacts(upstream["run_id"], "backtest")
    assert [a.path for a in artifacts] == ["backtest/backtest-signal-ensemble-v1.html"]
    table = pd.read_parquet(Path(str(meta["results_table"])))
    mine = table[table["run_name"] == "dagster-signal-ensemble-v1"]
    assert mine["sharpe"].iloc[-1] == pytest.approx(meta["sharpe"])
    assert mine["version"].iloc[-1] == "1"


def test_backtest_report_fails_without_a_model_version(tmp_path: Path) -> None:
    resources = {
        "warehouse": WarehouseResource(root=str(tmp_path / "warehouse")),
        "mlflow": MlflowResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"),
    }
    previous = mlflow.get_tracking_uri()
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [backtest_report],
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(previous)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "materialise registered_model first" in failure.message


@pytest.mark.slow
def test_strategy_optimisation_reports_out_of_sample_and_deflated_sharpe(upstream: dict) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [strategy_optimisation],
            resources=upstream["resources"],
            instance=instance,
            run_config={
                "ops": {
                    "strategy_optimisation": {
                        "config": {"model": "challenger", "n_windows": 2, "n_trials": 3}
                    }
                }
            },
        )
    assert result.success
    meta = _metadata(result, "strategy_optimisation")
    assert meta["trials"] == 6  # 3 trials in each of 2 windows
    assert 0.0 <= meta["deflated_sharpe"] <= 1.0
    assert meta["windows"].count("\n") == 3  # header, rule, two windows
    logged = MlflowClient().get_run(upstream["run_id"]).data.metrics
    assert logged["strategy_oos_sharpe"] == pytest.approx(meta["oos_sharpe"])
