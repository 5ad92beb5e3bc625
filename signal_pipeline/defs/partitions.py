"""Partitions shared by the asset layers."""

from __future__ import annotations

import os

import dagster as dg

from signal_pipeline.data.sources import DEMO_START

#: One partition per weekday session (exchange holidays simply hold no rows), keyed
#: by the session date in America/New_York. The first date is overridable for users
#: whose files start elsewhere.
trading_days = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 * * 1-5",
    start=os.environ.get("SIGNAL_PIPELINE_FIRST_DATE", DEMO_START),
    fmt="%Y-%m-%d",
    timezone="America/New_York",
)


def partition_dates(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[str]:
    """The session dates a (single- or multi-partition) run covers."""
    key_range = context.partition_key_range
    return trading_days.get_partition_keys_in_range(key_range)
