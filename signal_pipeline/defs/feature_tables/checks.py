"""Blocking Great Expectations checks on the feature rows just written."""

import dagster as dg

from signal_pipeline.defs.feature_tables.assets import feature_table
from signal_pipeline.defs.partitions import partition_dates, trading_days
from signal_pipeline.defs.resources import WarehouseResource
from signal_pipeline.features.validation import validate_feature_table


@dg.asset_check(
    asset=feature_table,
    blocking=True,
    partitions_def=trading_days,
    description="No NaN after each feature's warm-up, values finite and inside their "
    "formula's range (0 <= RSI <= 100, volume >= 0, ...); lists feature pairs with "
    "|correlation| > 0.95.",
)
def feature_table_expectations(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    store = warehouse.warehouse()
    present = sorted(set(partition_dates(context)) & set(store.partitions("feature_table")))
    if not present:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"rows": 0, "note": "no feature rows for these dates"},
        )
    table = store.read("feature_table", dates=present)
    result = validate_feature_table(table)
    metadata = result.to_metadata()
    metadata["failures"] = dg.MetadataValue.md(metadata["failures"] or "none")
    top = result.correlated.head(20)
    metadata["correlated_pairs"] = dg.MetadataValue.md(
        top.to_markdown(index=False) if len(top) else "none"
    )
    return dg.AssetCheckResult(passed=result.success, metadata=metadata)
