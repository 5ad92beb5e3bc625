"""``signal_snapshot``: the champion's latest signal for every symbol, written to the store.

Thin adapter: fetch the champion (registry → local copy, as the service does), read the
last sessions of ``raw_bars`` from the warehouse, call
:func:`signal_pipeline.inference.snapshot.snapshot_signals`, write the signals through
:class:`SignalStore` and report a table of them.
"""

import dagster as dg
import pandas as pd

from signal_pipeline.data.storage import Warehouse, WarehouseError
from signal_pipeline.defs.resources import MlflowResource, SignalStoreResource, WarehouseResource
from signal_pipeline.inference.engine import SignalEngine
from signal_pipeline.inference.loading import fetch_served_model, load_feature_spec_for
from signal_pipeline.inference.snapshot import sessions_needed, snapshot_signals
from signal_pipeline.signals.store import SignalStore

GROUP = "signals"


class SnapshotConfig(dg.Config):
    """Which registry alias answers, and how many bars of history each symbol gets
    (0: the model's ``min_bars``, at least 300)."""

    alias: str = "champion"
    history_bars: int = 0


def _md(frame: pd.DataFrame) -> dg.MetadataValue:
    if frame.empty:
        return dg.MetadataValue.md("_no signals_")
    return dg.MetadataValue.md(frame.to_markdown(index=False, floatfmt=".4f"))


def _optional(wh: Warehouse, table: str, dates: list[str]) -> pd.DataFrame | None:
    """``table`` on ``dates``, or None when it was never materialised."""
    try:
        return wh.read(table, dates=dates)
    except WarehouseError:
        return None


@dg.asset(
    group_name=GROUP,
    deps=["raw_bars", "registered_model"],
    kinds={"sql"},
    description="The champion's latest signal for every symbol of raw_bars (with the latest "
    "quote and option chain when the warehouse has them), written to the signals store.",
)
def signal_snapshot(
    context: dg.AssetExecutionContext,
    config: SnapshotConfig,
    warehouse: WarehouseResource,
    signal_store: SignalStoreResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    served = fetch_served_model(config.alias, tracking_uri=mlflow.resolved_tracking_uri())
    if served.registry_error:
        context.log.warning(f"registry unavailable, using the local copy: {served.registry_error}")
    engine = SignalEngine.from_folder(
        served.folder,
        model_version=served.model_version,
        spec=load_feature_spec_for(served),
        config={"max_bar_age": None, "dedupe": False},
        cache=False,
    )
    wh = warehouse.warehouse()
    dates = wh.partitions("raw_bars")[-sessions_needed(engine.min_bars, config.history_bars) :]
    bars = wh.read("raw_bars", dates=dates)
    # quotes and option chains feed the models trained with quote / option features
    extra = {name: _optional(wh, name, dates) for name in ("quotes", "option_chains")}
    snap = snapshot_signals(
        engine,
        bars,
        history=config.history_bars or None,
        quotes=extra["quotes"],
        option_chains=extra["option_chains"],
    )
    for symbol, reason in snap.skipped.items():
        context.log.warning(f"no signal for {symbol}: {reason}")
    store = SignalStore(signal_store.resolved_url())
    try:
        written = store.write([a.signal for a in snap.answers.values()])
    finally:
        store.close()
    table = snap.table()
    counts = table["signal_type"].value_counts().to_dict() if not table.empty else {}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "model_version": served.model_version,
            "model_source": served.source,
            "inserted": written.inserted,
            "duplicates": written.duplicates,
            "skipped": len(snap.skipped),
            "degraded": int(table["degraded"].sum()) if not table.empty else 0,
            **{f"n_{k.lower()}": int(v) for k, v in counts.items()},
            "signals": _md(table),
        }
    )
