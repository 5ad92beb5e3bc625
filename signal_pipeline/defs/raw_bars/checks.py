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


def _contract_check(asset: dg.AssetsDefinition, table: str, suite, description: str):
    @dg.asset_check(
        asset=asset,
        name=f"{table}_contract",
        blocking=True,
        partitions_def=trading_days,
        description=f"Great Expectations: {description}",
    )
    def _contract(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        return _check(context, warehouse, table, suite())

    return _contract


raw_bars_contract = _contract_check(
    raw_bars, "raw_bars", bar_suite, "the bar contract of DESIGN.md."
)
benchmark_bars_contract = _contract_check(
    benchmark_bars, "benchmark_bars", bar_suite, "the bar contract, for benchmark series."
)
option_chains_contract = _contract_check(
    option_chains, "option_chains", option_chain_suite, "the option-chain contract."
)
