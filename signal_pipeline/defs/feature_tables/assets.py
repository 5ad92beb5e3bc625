"""Feature layer: multi-timeframe bars and the feature table, daily partitioned."""

import os
import time

import dagster as dg
import pandas as pd

from signal_pipeline.defs.partitions import partition_dates, trading_days
from signal_pipeline.defs.resources import WarehouseResource
from signal_pipeline.features.spec import load_feature_spec
from signal_pipeline.features.table import iter_feature_table, resample_bars
from signal_pipeline.features.validation import feature_columns

GROUP = "features"
HIGHER_TIMEFRAMES = ("5m", "15m", "1h", "1d")
MANIFEST = "feature_table_manifest"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            f"bars_{tf}",
            deps=["raw_bars"],
            description=f"{tf} bars resampled from 1-minute bars, session-aware, stamped at their close.",
            partitions_def=trading_days,
            group_name=GROUP,
            kinds={"parquet"},
        )
        for tf in HIGHER_TIMEFRAMES
    ],
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    can_subset=True,
)
def resampled_bars(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    store = warehouse.warehouse()
    dates = partition_dates(context)
    present = sorted(set(dates) & set(store.partitions("raw_bars")))
    bars = store.read("raw_bars", dates=present) if present else pd.DataFrame()
    for key in context.selected_asset_keys:
        tf = key.path[-1].removeprefix("bars_")
        frame = resample_bars(bars, tf) if len(bars) else bars
        summary = store.write_partitioned(f"bars_{tf}", frame)
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "dagster/row_count": summary.rows,
                "dates_written": len(summary.partitions),
                "symbols": int(frame["symbol"].nunique()) if len(frame) else 0,
            },
        )


@dg.asset(
    deps=["raw_bars", "quotes", "option_chains"],
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name=GROUP,
    kinds={"parquet", "talib"},
    description="One row per (symbol, 1-minute ts), one column per feature of "
    "config/features.yaml on every timeframe, joined as-of on each timeframe's close.",
)
def feature_table(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    store = warehouse.warehouse()
    dates = partition_dates(context)
    spec = load_feature_spec()
    started = time.perf_counter()
    rows = 0
    columns: list[str] = []
    manifest = []
    stats = []
    # Symbols are independent: one worker process per core (2 on this machine).
    workers = min(2, os.cpu_count() or 1)
    parts = iter_feature_table(store, dates, spec=spec, workers=workers)
    for done, part in enumerate(parts, start=1):
        summary = store.write_partitioned("feature_table", part.frame, replace="symbol")
        rows += summary.rows
        columns = columns or feature_columns(part.frame)
        manifest.append(
            pd.DataFrame(
                {
                    "date": list(summary.partitions),
                    "symbol": part.symbol,
                    "feature_spec_hash": spec.version_hash,
                    "dagster_run_id": context.run.run_id,
                    "written_at": pd.Timestamp.now(tz="UTC"),
                }
            )
        )
        stats.append(part.frame[columns[:12]].describe().T.assign(symbol=part.symbol))
        context.log.info(
            f"[{done}] {part.symbol}: {summary.rows} rows for {len(summary.partitions)} dates "
            f"({part.history_rows} bars of history), {time.perf_counter() - started:.1f}s so far"
        )
    if manifest:
        store.append_table(MANIFEST, pd.concat(manifest, ignore_index=True))
    preview = (
        pd.concat(stats).groupby(level=0)[["mean", "std", "min", "max"]].mean().round(4)
        if stats
        else pd.DataFrame()
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "feature_count": len(columns),
            "feature_spec_hash": spec.version_hash,
            "timeframes": ", ".join(spec.timeframes),
            "symbols": len(manifest),
            "seconds": round(time.perf_counter() - started, 1),
            "feature_statistics": dg.MetadataValue.md(
                preview.to_markdown() if len(preview) else "_no rows_"
            ),
            "path": dg.MetadataValue.path(str(store.table_path("feature_table"))),
        }
    )
