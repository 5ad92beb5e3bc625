"""Blocking Great Expectations checks on the raw data of the partitions just written."""

import dagster as dg

from signal_pipeline.data.expectations import bar_suite, option_chain_suite, run_expectations
from signal_pipeline.defs.partitions import partition_dates, trading_days
from signal_pipeline.defs.raw_bars.assets import benchmark_bars, option_chains, raw_bars
from signal_pipeline.defs.resources import WarehouseResource


def _check(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, table: str, suite
) -> dg.AssetCheckResult:
    dates = partition_dates(context)
    store = warehouse.warehouse()
    present = sorted(set(dates) & set(store.partitions(table)))
    if not present:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"rows": 0, "note": f"no rows for {len(dates)} date(s); nothing to check"},
        )
    df = store.read(table, dates=present)
    report = run_expectations(df, f"{table}_contract", suite)
    return dg.AssetCheckResult(
        passed=report.success,
        metadata={
            "rows": report.rows,
            "dates": len(present),
            "summary": report.summary(),
            "expectations": dg.MetadataValue.md(report.to_markdown()),
            "failed": [o.expectation for o in report.failed],
        },
    )


@dg.asset_check(
    asset=raw_bars,
    blocking=True,
    partitions_def=trading_days,
    description="Great Expectations: the bar contract of DESIGN.md.",
)
def raw_bars_contract(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    return _check(context, warehouse, "raw_bars", bar_suite())


@dg.asset_check(
    asset=benchmark_bars,
    blocking=True,
    partitions_def=trading_days,
    description="Great Expectations: the bar contract, for benchmark series.",
)
def benchmark_bars_contract(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    return _check(context, warehouse, "benchmark_bars", bar_suite())


@dg.asset_check(
    asset=option_chains,
    blocking=True,
    partitions_def=trading_days,
    description="Great Expectations: the option-chain contract.",
)
def option_chains_contract(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    return _check(context, warehouse, "option_chains", option_chain_suite())
