"""Raw market data: bars, quotes, option chains, benchmark bars, simulator oracle.

Each asset is daily-partitioned by session date; a backfill of many dates runs as one
run (``BackfillPolicy.single_run``) so the path-dependent simulator runs once.
"""

from typing import Literal

import dagster as dg
import pandas as pd

from signal_pipeline.data.sources import DEMO_SEED, DEMO_SYMBOLS, SimulatorSource, select_dates
from signal_pipeline.defs.partitions import partition_dates, trading_days
from signal_pipeline.defs.resources import WarehouseResource

GROUP = "raw_data"


class MarketSourceConfig(dg.Config):
    """Where the data comes from: the simulator (default) or files the user gives."""

    source: Literal["simulator", "files"] = "simulator"
    paths: list[str] = []  # noqa: RUF012  (pydantic copies defaults per instance)
    symbol: str | None = None
    tz: str | None = None
    # "auto": open- vs close-time stamps are worked out from the session times in the
    # file (09:30 vs 16:00 New York present), and an undecidable file is an error.
    stamp: Literal["auto", "close", "open"] = "auto"
    price: Literal["adjusted", "raw"] = "adjusted"
    errors: Literal["raise", "quarantine"] = "raise"
    sim_symbols: int = DEMO_SYMBOLS
    sim_seed: int = DEMO_SEED

    def simulator(self) -> SimulatorSource:
        return SimulatorSource(symbols=self.sim_symbols, seed=self.sim_seed)


def _preview(df: pd.DataFrame, rows: int = 5) -> dg.MetadataValue:
    return dg.MetadataValue.md(
        df.head(rows).to_markdown(index=False) if not df.empty else "_empty_"
    )


def _load(
    config: MarketSourceConfig, kind: str, dates: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows for ``dates``, quarantined rows) from the configured source."""
    if config.source == "simulator":
        market = config.simulator().market(max(dates))
        frame = {
            "bars": market.bars,
            "quotes": market.quotes,
            "option_chains": market.option_chains,
            "benchmarks": market.benchmarks,
            "oracle": market.oracle,
        }[kind]
        return select_dates(frame, dates), pd.DataFrame()
    if not config.paths:
        raise dg.Failure(
            f"source='files' needs config 'paths' (files, folders or globs) for {kind}",
            allow_retries=False,
        )
    from signal_pipeline.data.loaders import ingest_files

    if kind == "oracle":
        raise dg.Failure("the oracle exists only for the simulator source", allow_retries=False)
    options = {"symbol": config.symbol, "tz": config.tz, "errors": config.errors}
    if kind in ("bars", "benchmarks"):
        options.update(stamp=config.stamp, price=config.price)
    result = ingest_files(config.paths, kind="bars" if kind == "benchmarks" else kind, **options)
    return select_dates(result.table, dates), result.quarantine


def _materialise(
    context: dg.AssetExecutionContext,
    config: MarketSourceConfig,
    warehouse: WarehouseResource,
    kind: str,
    table: str,
) -> dg.MaterializeResult:
    dates = partition_dates(context)
    rows, quarantine = _load(config, kind, dates)
    store = warehouse.warehouse()
    summary = store.write_partitioned(table, rows)
    if not quarantine.empty:
        store.append_table(
            f"quarantine_{table}", quarantine.assign(dagster_run_id=context.run.run_id)
        )
        context.log.warning(f"{len(quarantine)} {table} rows set aside in quarantine_{table}")
    missing = sorted(set(dates) - set(summary.partitions))
    if missing:
        context.log.info(
            f"{table}: no rows for {len(missing)} of {len(dates)} dates (e.g. {missing[:3]})"
        )
    symbols = sorted(rows["symbol"].unique()) if "symbol" in rows else []
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "source": config.source,
            "dates_written": len(summary.partitions),
            "dates_without_rows": len(missing),
            "symbols": len(symbols),
            "symbol_list": ", ".join(symbols[:50]),
            "quarantined_rows": len(quarantine),
            "files_written": summary.files,
            "path": dg.MetadataValue.path(str(store.table_path(table))),
            "preview": _preview(rows),
        }
    )


_COMMON = {
    "partitions_def": trading_days,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "group_name": GROUP,
    "kinds": {"parquet", "duckdb"},
}


@dg.asset(
    description="1-minute (or daily) OHLCV bars, validated, stamped at bar close in UTC.", **_COMMON
)
def raw_bars(
    context: dg.AssetExecutionContext, config: MarketSourceConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    return _materialise(context, config, warehouse, "bars", "raw_bars")


@dg.asset(description="Top-of-book quotes (bid/ask and sizes) at each bar close.", **_COMMON)
def quotes(
    context: dg.AssetExecutionContext, config: MarketSourceConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    return _materialise(context, config, warehouse, "quotes", "quotes")


@dg.asset(
    description="Daily option-chain snapshots at the close: strikes, expiries, bid/ask, volume, OI.",
    **_COMMON,
)
def option_chains(
    context: dg.AssetExecutionContext, config: MarketSourceConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    return _materialise(context, config, warehouse, "option_chains", "option_chains")


@dg.asset(description="Benchmark index bars (SPY, QQQ) for backtest comparison.", **_COMMON)
def benchmark_bars(
    context: dg.AssetExecutionContext, config: MarketSourceConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    return _materialise(context, config, warehouse, "benchmarks", "benchmark_bars")


@dg.asset(
    description="The simulator's oracle SELL/HOLD/BUY probabilities per bar: the best achievable "
    "accuracy on simulated data (simulator source only).",
    **_COMMON,
)
def simulator_oracle(
    context: dg.AssetExecutionContext, config: MarketSourceConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    if config.source != "simulator":
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "source": config.source})
    return _materialise(context, config, warehouse, "oracle", "simulator_oracle")
