"""Checks beside the signal assets: the signals database keeps its invariants."""

import dagster as dg

from signal_pipeline.defs.resources import SignalStoreResource
from signal_pipeline.defs.signal_snapshots.assets import signal_performance
from signal_pipeline.signals.integrity import integrity_counts
from signal_pipeline.signals.store import SignalStore


@dg.asset_check(
    asset=signal_performance,
    description="No signal in both live and archive tables, no duplicate keys across them, "
    "no orphan outcomes, every symbol registered.",
)
def signals_integrity(signal_store: SignalStoreResource) -> dg.AssetCheckResult:
    store = SignalStore(signal_store.resolved_url())
    try:
        counts = integrity_counts(store)
    finally:
        store.close()
    return dg.AssetCheckResult(passed=not any(counts.values()), metadata=counts)
