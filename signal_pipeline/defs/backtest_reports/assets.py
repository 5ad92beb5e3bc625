"""Backtests of a registered model version on its walk-forward out-of-fold predictions.

- ``backtest_report``: the version's OOF predictions traded over ``raw_bars`` against
  ``benchmark_bars`` (SPY, QQQ); the self-contained HTML report under
  ``reports_dir/backtest-<model>-v<N>.html``, logged to the version's MLflow run under
  ``backtest/``; one row appended to ``reports_dir/backtest_results.parquet``.
- ``strategy_optimisation``: walk-forward Optuna search of the confidence threshold,
  holding period and stop/target multiples on the same OOF predictions; reports only
  the out-of-sample result, with its deflated Sharpe ratio.

Which version: the ``model`` config (a version number or an alias such as ``champion``),
by default the version the latest ``registered_model`` materialisation registered.
The assets only read their upstreams (declared by key), so each can be re-run alone.
"""

import base64
from typing import Any

import dagster as dg

from signal_pipeline.defs.resources import MlflowResource, WarehouseResource
from signal_pipeline.settings import get_settings

GROUP = "backtests"
REGISTERED_MODEL = dg.AssetKey("registered_model")
RAW_BARS = dg.AssetKey("raw_bars")
BENCHMARK_BARS = dg.AssetKey("benchmark_bars")


class BacktestReportConfig(dg.Config):
    """Which model version and which strategy parameters to backtest."""

    model: str = ""  # version number or alias; "" = latest registered_model materialisation
    confidence_threshold: float = 0.6
    holding_bars: int = 15
    probabilities: str = "calibrated"  # or "raw" (uncalibrated OOF ensemble probabilities)


class StrategyOptimisationConfig(dg.Config):
    """Model version and the size of the walk-forward search (small by default)."""

    model: str = ""
    n_windows: int = 3
    n_trials: int = 10
    probabilities: str = "calibrated"
    seed: int = 0


def _model_version(context: dg.AssetExecutionContext, model: str, mlflow: MlflowResource) -> Any:
    """The OOF frame and identity of the configured (or latest registered) version."""
    from signal_pipeline.backtest.model_sources import load_oof_from_registry
    from signal_pipeline.registry.tracking import configure_tracking

    configure_tracking(mlflow.resolved_tracking_uri())
    ref = model.strip()
    if not ref:
        event = context.instance.get_latest_materialization_event(REGISTERED_MODEL)
        version = None
        if event is not None and event.asset_materialization is not None:
            version = event.asset_materialization.metadata.get("version")
        if version is None:
            raise dg.Failure(
                "no model version to backtest: materialise registered_model first, or set "
                "the config 'model' to a version number or an alias (e.g. 'champion')"
            )
        ref = str(getattr(version, "value", version))
    return load_oof_from_registry(ref)


def _png_markdown(png: bytes, alt: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


@dg.asset(
    deps=[REGISTERED_MODEL, RAW_BARS, BENCHMARK_BARS],
    group_name=GROUP,
    kinds={"mlflow", "html"},
    description="Backtest of the model version's walk-forward OOF predictions vs SPY and QQQ: "
    "HTML report (also an MLflow artifact of the version's run) and a results-table row.",
)
def backtest_report(
    context: dg.AssetExecutionContext,
    config: BacktestReportConfig,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    from signal_pipeline.backtest.model_backtest import backtest_model_version
    from signal_pipeline.backtest.model_sources import log_to_model_run, read_warehouse_bars
    from signal_pipeline.backtest.report import append_results_row
    from signal_pipeline.registry.tracking import run_link

    found = _model_version(context, config.model, mlflow)
    bars, benchmarks = read_warehouse_bars(warehouse.warehouse(), found.oof)
    settings = get_settings()
    run = backtest_model_version(
        found.oof,
        bars,
        benchmarks,
        confidence_threshold=config.confidence_threshold,
        holding_bars=config.holding_bars,
        probabilities=config.probabilities,  # type: ignore[arg-type]
        report_path=settings.reports_dir / f"backtest-{found.label}.html",
        run_name=f"dagster-{found.label}",
        info={
            "model_name": found.model_name,
            "version": found.version,
            "mlflow_run_id": found.run_id,
            "dagster_run_id": context.run.run_id,
        },
    )
    table = append_results_row(run.row)
    log_to_model_run(found.run_id, run)
    m = run.metrics
    return dg.MaterializeResult(
        metadata={
            "model_version": f"{found.model_name}/{found.version}",
            "mlflow_run_id": found.run_id,
            "mlflow_run": dg.MetadataValue.url(run_link(found.run_id)),
            "report": dg.MetadataValue.path(str(run.report_path)),
            "report_artifact": f"backtest/{run.report_path.name}",
            "results_table": dg.MetadataValue.path(str(table)),
            "metrics": dg.MetadataValue.md(run.metrics_markdown()),
            "equity": _png_markdown(run.equity_png(), "equity vs SPY and QQQ"),
            "sharpe": float(m["sharpe"]),
            "total_return": float(m["total_return"]),
            "max_drawdown": float(m["max_drawdown"]),
            "trade_count": int(m.get("trade_count", 0)),
            "oof_rows": len(run.predictions),
            "oof_folds": int(run.info["oof_folds"]),
            "signals": len(run.signals),
            "probabilities": config.probabilities,
            "first_session": run.info["first_session"],
            "last_session": run.info["last_session"],
        }
    )


@dg.asset(
    deps=[REGISTERED_MODEL, RAW_BARS],
    group_name=GROUP,
    kinds={"optuna", "mlflow"},
    description="Walk-forward Optuna search of threshold, holding period, stop and target on "
    "the model version's OOF predictions; out-of-sample result and deflated Sharpe ratio.",
)
def strategy_optimisation(
    context: dg.AssetExecutionContext,
    config: StrategyOptimisationConfig,
    warehouse: WarehouseResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    import numpy as np
    from mlflow import MlflowClient

    from signal_pipeline.backtest.model_backtest import bars_for_predictions, oof_predictions
    from signal_pipeline.backtest.model_sources import read_warehouse_bars
    from signal_pipeline.backtest.optimiser import walk_forward_optimise

    found = _model_version(context, config.model, mlflow)
    predictions = oof_predictions(found.oof, probabilities=config.probabilities)  # type: ignore[arg-type]
    bars, _ = read_warehouse_bars(warehouse.warehouse(), found.oof)
    result = walk_forward_optimise(
        bars_for_predictions(bars, predictions),
        predictions,
        n_windows=config.n_windows,
        n_trials=config.n_trials,
        seed=config.seed,
        storage=get_settings().optuna_storage,
        study_prefix=f"strategy-{found.label}-{context.run.run_id[:8]}",
    )
    m = result.metrics
    headline = {
        "oos_sharpe": m["sharpe"],
        "oos_total_return": m["total_return"],
        "oos_max_drawdown": m["max_drawdown"],
        "deflated_sharpe": m["deflated_sharpe"],
    }
    finite = {f"strategy_{k}": float(v) for k, v in headline.items() if np.isfinite(v)}
    client = MlflowClient()
    for key, value in finite.items():
        client.log_metric(found.run_id, key, value)
    windows = result.windows.copy()
    for column in ("train_start", "train_end", "test_start", "test_end"):
        windows[column] = windows[column].astype(str).str[:10]
    return dg.MaterializeResult(
        metadata={
            "model_version": f"{found.model_name}/{found.version}",
            "mlflow_run_id": found.run_id,
            **{k: float(v) for k, v in headline.items()},
            "trials": len(result.trial_sharpes),
            "windows": dg.MetadataValue.md(windows.to_markdown(index=False, floatfmt=".4g")),
            "note": "metrics are out-of-sample only: each window's best parameters, "
            "run unchanged on the next window",
        }
    )
