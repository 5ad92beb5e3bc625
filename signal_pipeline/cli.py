"""`signal-pipeline` command line. Each subcommand is a thin wrapper over library code.

signal-pipeline demo                 # simulate, materialise every asset, say where to look
signal-pipeline ingest PATH...       # validate files of bars and store them
signal-pipeline init-home            # create $SIGNAL_PIPELINE_HOME and $DAGSTER_HOME
signal-pipeline db upgrade           # apply the signals database migrations
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from signal_pipeline.data.sources import DEMO_DAYS, DEMO_SEED, DEMO_START, DEMO_SYMBOLS
from signal_pipeline.settings import get_settings


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- demo
RAW_ASSETS = ["raw_bars", "quotes", "option_chains", "benchmark_bars", "simulator_oracle"]
FEATURE_ASSETS = ["bars_5m", "bars_15m", "bars_1h", "bars_1d", "feature_table"]
TRAINING_ASSETS = [
    "training_set",
    "xgboost_model",
    "random_forest_model",
    "lstm_model",
    "ensemble_model",
    "model_evaluation",
    "registered_model",
]
BACKTEST_ASSETS = ["backtest_report", "strategy_optimisation"]
SIGNAL_ASSETS = ["signal_snapshot", "signal_performance", "signal_analytics"]


def demo_partition_range(days: int = DEMO_DAYS, start: str = DEMO_START) -> tuple[str, str]:
    import pandas as pd

    sessions = pd.bdate_range(start, periods=days)
    return sessions[0].strftime("%Y-%m-%d"), sessions[-1].strftime("%Y-%m-%d")


def cmd_demo(args: argparse.Namespace) -> int:
    from signal_pipeline.defs.runs import init_dagster_home, materialise

    settings = get_settings().ensure_dirs()
    init_dagster_home()
    first, last = demo_partition_range(args.days)
    sim = {"sim_symbols": args.symbols, "sim_seed": args.seed}
    run_config = {"ops": {name: {"config": sim} for name in RAW_ASSETS}}
    # (title, assets, daily-partitioned?)
    stages = [
        ("raw market data (simulator)", RAW_ASSETS, True),
        ("multi-timeframe bars and the feature table", FEATURE_ASSETS, True),
        ("tuning, training, evaluation and registration", TRAINING_ASSETS, False),
        ("out-of-sample backtest of the model version", BACKTEST_ASSETS, False),
        ("the champion's latest signal per symbol, stored and analysed", SIGNAL_ASSETS, False),
    ]
    _say(
        f"signal-pipeline demo: {args.symbols} simulated symbols x {args.days} sessions "
        f"({first} .. {last}), seed {args.seed}"
    )
    started = time.perf_counter()
    for number, (title, selection, partitioned) in enumerate(stages, start=1):
        if selection is SIGNAL_ASSETS and not _has_champion():
            _say(
                f"[{number}/{len(stages)}] {title}: skipped, no model version holds the "
                "'champion' alias (the promotion gates refused every challenger; see above)"
            )
            continue
        _say(f"[{number}/{len(stages)}] {title}: materialising {', '.join(selection)} ...")
        t0 = time.perf_counter()
        result = materialise(
            selection,
            partition_range=(first, last) if partitioned else None,
            run_config=run_config if selection is RAW_ASSETS else None,
            log_level=args.log_level,
            raise_on_error=False,
        )
        if _report_stage(result, time.perf_counter() - t0) != 0:
            return 1
    _summarise_demo(settings, time.perf_counter() - started)
    return 0


def _summarise_demo(settings, elapsed: float) -> None:
    from signal_pipeline.data.storage import Warehouse

    warehouse = Warehouse(settings.warehouse_dir)
    lines = [f"\nDemo finished in {elapsed:.0f}s. Tables in {settings.warehouse_dir}:"]
    for table in warehouse.tables():
        count = warehouse.query(f'SELECT count(*) AS n FROM "{table}"')["n"].iloc[0]
        lines.append(f"  {table:<24} {count:>12,} rows")
    lines += _champion_summary()
    reports = sorted(settings.reports_dir.glob("*.html"))
    lines += [
        "",
        "Where to look:",
        "  make ui                   Dagster UI (assets, lineage, checks, runs) at http://127.0.0.1:3000",
        f"  mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}",
        "                            MLflow experiments, the model registry and its aliases",
        f"  backtest report           {reports[-1] if reports else settings.reports_dir}",
        f"  signals database          {settings.signals_db_url}",
        "  make serve                live signals over HTTP (BentoML) at http://127.0.0.1:3000",
        f"  data (Parquet, DuckDB)    {settings.warehouse_dir}",
        '  signal-pipeline query "SELECT symbol, count(*) FROM raw_bars GROUP BY 1"',
    ]
    print("\n".join(lines), flush=True)


def _has_champion() -> bool:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from signal_pipeline.registry.tracking import configure_tracking

    configure_tracking()
    try:
        MlflowClient().get_model_version_by_alias("signal-ensemble", "champion")
    except MlflowException:
        return False
    return True


def _champion_summary() -> list[str]:
    """The champion's honest out-of-fold figures, read back from the MLflow registry."""
    try:
        from mlflow import MlflowClient

        from signal_pipeline.registry.tracking import configure_tracking

        configure_tracking()
        client = MlflowClient()
        version = client.get_model_version_by_alias("signal-ensemble", "champion")
        metrics = client.get_run(version.run_id).data.metrics
    except Exception as exc:  # the summary must not fail a finished demo
        return ["", f"(no champion model to summarise: {exc})"]

    def fig(key: str, fmt: str = ".3f") -> str:
        return format(metrics[key], fmt) if key in metrics else "n/a"

    return [
        "",
        f"Champion: signal-ensemble version {version.version} (out of fold, walk-forward, purged):",
        f"  accuracy {fig('oof_accuracy')} vs class prior {fig('baseline_class_prior_accuracy')}, "
        f"log loss {fig('oof_log_loss')}, calibration error (held-out fold) "
        f"{fig('calibration_holdout_ece_calibrated')}",
        f"  backtest on out-of-fold signals: Sharpe {fig('backtest_sharpe', '.2f')}, "
        f"total return {fig('backtest_total_return', '.2%')}, max drawdown "
        f"{fig('backtest_max_drawdown', '.2%')}, {fig('backtest_trade_count', '.0f')} trades",
    ]


# ------------------------------------------------------------------------ ingest
def cmd_ingest(args: argparse.Namespace) -> int:
    from signal_pipeline.data.loaders import ingest_files
    from signal_pipeline.data.storage import Warehouse
    from signal_pipeline.data.validation import BarDataError

    settings = get_settings().ensure_dirs()
    try:
        result = ingest_files(
            args.paths,
            symbol=args.symbol,
            tz=args.tz,
            stamp=args.stamp,
            price=args.price,
            errors="quarantine" if args.quarantine else "raise",
            sort=args.sort,
        )
    except (BarDataError, FileNotFoundError, ValueError) as exc:
        _say(f"ingest failed: {exc}")
        return 2
    warehouse = Warehouse(settings.warehouse_dir)
    summary = warehouse.write_partitioned(args.table, result.bars)
    if not result.quarantine.empty:
        warehouse.append_table(f"quarantine_{args.table}", result.quarantine)
    symbols = result.bars["symbol"].nunique() if not result.bars.empty else 0
    print(
        f"ingested {summary.rows:,} rows ({symbols} symbols, {len(summary.partitions)} session dates) "
        f"into {warehouse.table_path(args.table)}; quarantined {len(result.quarantine):,} rows",
        flush=True,
    )
    return 0


# ------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    from signal_pipeline.defs.runs import materialise

    get_settings().ensure_dirs()
    _say(f"training on the stored feature table: {', '.join(TRAINING_ASSETS)} ...")
    t0 = time.perf_counter()
    result = materialise(TRAINING_ASSETS, log_level=args.log_level, raise_on_error=False)
    return _report_stage(result, time.perf_counter() - t0)


def _report_stage(result, elapsed: float) -> int:
    """Say how a run ended; a refused promotion is an outcome, not a crash."""
    from signal_pipeline.defs.runs import failed_checks, failed_steps

    checks = failed_checks(result)
    steps = [s for s in failed_steps(result) if not s.endswith("promotion_policy")]
    if steps:
        _say(f"failed in {steps}; see the run {result.run_id[:8]} in the Dagster UI")
        return 1
    for name, message in checks.items():
        _say(f"      {name}: challenger not promoted, champion unchanged ({message})")
    _say(f"      done in {elapsed:.1f}s (run {result.run_id[:8]})")
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    import json

    from signal_pipeline.registry.lineage import lineage
    from signal_pipeline.registry.tracking import configure_tracking

    configure_tracking()
    try:
        print(json.dumps(lineage(args.ref), indent=2, default=str))
    except Exception as exc:  # registry errors carry the fix in their message
        _say(f"lineage of {args.ref!r} failed: {exc}")
        return 2
    return 0


# ------------------------------------------------------------------------- misc
def cmd_init_home(args: argparse.Namespace) -> int:
    from signal_pipeline.defs.runs import init_dagster_home

    path = init_dagster_home(postgres=args.postgres, force=args.force)
    settings = get_settings()
    print(
        f"SIGNAL_PIPELINE_HOME={settings.home}\nDAGSTER_HOME={settings.dagster_home} ({path.name})"
    )
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    import pandas as pd

    from signal_pipeline.data.storage import Warehouse

    frame = Warehouse(get_settings().warehouse_dir).query(args.sql)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(frame.to_string(max_rows=args.max_rows))
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from signal_pipeline.signals.db import DatabaseUnavailableError
    from signal_pipeline.signals.migrations import MigrationError, applied_versions, upgrade

    url = args.url or get_settings().signals_db_url
    get_settings().ensure_dirs()
    try:
        applied = upgrade(url)
        current = max(applied_versions(url), default=0)
    except (MigrationError, DatabaseUnavailableError) as exc:
        _say(f"db upgrade failed for {url}: {exc}")
        return 2
    if applied:
        print(f"{url}: applied versions {applied}; now at version {current}")
    else:
        print(f"{url}: already up to date (version {current})")
    return 0


# ------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="signal-pipeline",
        description="Market bars in, calibrated BUY / SELL / HOLD signals out.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the whole pipeline on simulated data")
    demo.add_argument(
        "--symbols", type=int, default=DEMO_SYMBOLS, help="simulated symbols (default %(default)s)"
    )
    demo.add_argument(
        "--days", type=int, default=DEMO_DAYS, help="trading sessions (default %(default)s)"
    )
    demo.add_argument(
        "--seed", type=int, default=DEMO_SEED, help="simulator seed (default %(default)s)"
    )
    demo.add_argument(
        "--log-level", default="WARNING", help="Dagster log level of the runs (default WARNING)"
    )
    demo.set_defaults(func=cmd_demo)

    ingest = sub.add_parser("ingest", help="validate bar files (CSV/Parquet) and store them")
    ingest.add_argument("paths", nargs="+", help="files, folders or globs")
    ingest.add_argument("--symbol", help="symbol, when the file has no symbol column")
    ingest.add_argument("--tz", help="time zone of naive time stamps, e.g. America/New_York")
    ingest.add_argument(
        "--stamp",
        choices=["auto", "close", "open"],
        default="auto",
        help="whether time stamps mark the bar's close or open; auto works it out from "
        "the session times in the file and fails when it cannot (default auto)",
    )
    ingest.add_argument(
        "--price",
        choices=["adjusted", "raw"],
        default="adjusted",
        help="Yahoo-style files: adjusted or raw prices (default adjusted)",
    )
    ingest.add_argument(
        "--quarantine",
        action="store_true",
        help="set invalid rows aside in a quarantine table instead of failing",
    )
    ingest.add_argument(
        "--sort", action="store_true", help="sort unsorted files instead of failing"
    )
    ingest.add_argument("--table", default="raw_bars", help="warehouse table (default raw_bars)")
    ingest.set_defaults(func=cmd_ingest)

    init = sub.add_parser(
        "init-home", help="create the data folder and the Dagster instance config"
    )
    init.add_argument(
        "--postgres", action="store_true", help="use dagster.postgres.yaml (needs DAGSTER_PG_URL)"
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing dagster.yaml")
    init.set_defaults(func=cmd_init_home)

    query = sub.add_parser("query", help="run SQL (DuckDB) over the warehouse tables")
    query.add_argument("sql")
    query.add_argument("--max-rows", type=int, default=50)
    query.set_defaults(func=cmd_query)

    train = sub.add_parser("train", help="tune, train, evaluate and register the ensemble")
    train.add_argument("--log-level", default="INFO", help="Dagster log level (default INFO)")
    train.set_defaults(func=cmd_train)

    from signal_pipeline.backtest.cli_command import add_backtest_parser

    add_backtest_parser(sub)

    lin = sub.add_parser("lineage", help="where a model version (or a signal's model) came from")
    lin.add_argument(
        "ref", help="signal-ensemble/3, 3, champion, or models:/signal-ensemble@champion"
    )
    lin.set_defaults(func=cmd_lineage)

    db = sub.add_parser("db", help="signals database")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_sub.add_parser("upgrade", help="apply pending migrations (idempotent)")
    upgrade.add_argument(
        "--url", help="database URL (default: settings, SIGNAL_PIPELINE_SIGNALS_DB)"
    )
    upgrade.set_defaults(func=cmd_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # MLflow's per-file download bars drown the stage lines on a terminal
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["build_parser", "main"]
