"""``signal-pipeline backtest``: backtest a model version on its out-of-fold predictions.

signal-pipeline backtest --model-dir PATH        # a saved TrainedEnsemble folder
signal-pipeline backtest --alias champion        # a registered version, by alias
signal-pipeline backtest --model-version 3       # ... or by number

Bars come from the warehouse tables ``raw_bars`` and ``benchmark_bars``. The command
prints the metrics table and where the HTML report is, and appends a row to the results
table; for a registered version it also logs the report to the version's MLflow run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from signal_pipeline.settings import get_settings


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def add_backtest_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``backtest`` subcommand on an ``add_subparsers()`` object."""
    parser = subparsers.add_parser(
        "backtest",
        help="backtest a model version on its walk-forward out-of-fold predictions",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", type=Path, help="a saved TrainedEnsemble folder")
    source.add_argument("--model-version", help="a registered version number of the ensemble")
    source.add_argument("--alias", help="a registry alias, e.g. champion or challenger")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.6,
        help="minimum class probability for a BUY/SELL signal (default %(default)s)",
    )
    parser.add_argument(
        "--holding-bars",
        type=int,
        default=15,
        help="maximum holding period in bars (default %(default)s)",
    )
    parser.add_argument(
        "--probabilities",
        choices=["calibrated", "raw"],
        default="calibrated",
        help="calibrated (cal_p_*) or raw OOF ensemble probabilities (default %(default)s)",
    )
    parser.add_argument(
        "--report", type=Path, help="HTML report path (default: reports_dir/backtest-<model>.html)"
    )
    parser.add_argument(
        "--tracking-uri", help="MLflow tracking URI (default: settings, MLFLOW_TRACKING_URI)"
    )
    parser.add_argument(
        "--no-mlflow",
        action="store_true",
        help="do not log the report to the model version's MLflow run",
    )
    parser.set_defaults(func=run_backtest_command)
    return parser


def _load_source(args: argparse.Namespace) -> Any:
    from signal_pipeline.backtest.model_sources import (
        load_oof_from_folder,
        load_oof_from_registry,
    )

    if args.model_dir is not None:
        return load_oof_from_folder(args.model_dir)
    from signal_pipeline.registry.tracking import configure_tracking

    configure_tracking(args.tracking_uri)
    return load_oof_from_registry(args.model_version or args.alias)


def run_backtest_command(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit status (2 on a bad input)."""
    from signal_pipeline.backtest.errors import BacktestError
    from signal_pipeline.backtest.model_backtest import backtest_model_version
    from signal_pipeline.backtest.model_sources import read_warehouse_bars
    from signal_pipeline.backtest.report import append_results_row
    from signal_pipeline.data.storage import Warehouse
    from signal_pipeline.registry.errors import RegistryError

    settings = get_settings()
    started = time.perf_counter()
    try:
        _say("[1/3] loading the model version's out-of-fold predictions ...")
        found = _load_source(args)
        oof = found.oof
        _say(f"      {len(oof):,} OOF rows from {found.source}")
        _say("[2/3] reading raw_bars and benchmark_bars from the warehouse ...")
        bars, benchmarks = read_warehouse_bars(Warehouse(settings.warehouse_dir), oof)
        _say(f"      {len(bars):,} bars, {len(benchmarks):,} benchmark bars")
        _say("[3/3] backtesting and writing the report ...")
        report = args.report or settings.reports_dir / f"backtest-{found.label}.html"
        run = backtest_model_version(
            oof,
            bars,
            benchmarks,
            confidence_threshold=args.threshold,
            holding_bars=args.holding_bars,
            probabilities=args.probabilities,
            report_path=report,
            run_name=f"cli-{found.label}",
            info={
                "source": found.source,
                "model_name": found.model_name or "",
                "version": found.version or "",
                "mlflow_run_id": found.run_id or "",
            },
        )
    except (BacktestError, RegistryError) as exc:
        _say(f"backtest failed: {exc}")
        return 2
    table = append_results_row(run.row)
    if found.run_id and not args.no_mlflow:
        from signal_pipeline.backtest.model_sources import log_to_model_run

        log_to_model_run(found.run_id, run)
        _say(f"      report logged to MLflow run {found.run_id} under backtest/")
    print(run.metrics_table().to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"\n{len(run.signals):,} signals, {int(run.metrics.get('trade_count', 0)):,} trades")
    print(f"report:        {run.report_path}")
    print(f"results table: {table}")
    _say(f"done in {time.perf_counter() - started:.1f}s")
    return 0
