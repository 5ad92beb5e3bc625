"""Signal assets: outcomes of stored signals (``signal_performance``) and their analytics.

``signal_snapshot`` (the champion's latest signal per symbol) joins this layer with the
inference engine. Both assets here are thin: they read inputs, call one core function of
``signal_pipeline.signals`` and report metadata.
"""

import base64
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from signal_pipeline.data.storage import WarehouseError
from signal_pipeline.defs.resources import SignalStoreResource, WarehouseResource
from signal_pipeline.signals import analytics, tracker
from signal_pipeline.signals.model import to_utc
from signal_pipeline.signals.store import SignalStore

GROUP = "signals"


class AsOfConfig(dg.Config):
    """Evaluate as of this UTC time (ISO 8601, e.g. '2024-03-01T21:00:00+00:00'); default now."""

    as_of: str | None = None

    def now(self) -> datetime:
        return to_utc(self.as_of, "as_of") if self.as_of else datetime.now(UTC)


def _md(frame: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(
        frame.to_markdown(index=False, floatfmt=".4f") if not frame.empty else "_no data_"
    )


def _png_md(png: bytes, title: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(
        f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"
    )


@dg.asset(
    group_name=GROUP,
    deps=["raw_bars"],
    kinds={"sql"},
    description="Realised outcome of every stored signal whose horizon has passed "
    "(direction-signed return, target/stop first hit), written to signal_outcomes.",
)
def signal_performance(
    context: dg.AssetExecutionContext,
    config: AsOfConfig,
    signal_store: SignalStoreResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    store = SignalStore(signal_store.resolved_url())
    try:
        now = config.now()
        window = tracker.bars_window(tracker.pending_signals(store, now))
        bars = pd.DataFrame(columns=["symbol", "ts", "open", "high", "low", "close", "volume"])
        if window is not None:
            try:
                bars = warehouse.warehouse().read(
                    "raw_bars", symbols=window.symbols, start=window.start, end=window.end
                )
            except WarehouseError as exc:
                context.log.warning(f"no bars to settle signals with: {exc}")
        outcomes = tracker.track_outcomes(store, bars, now=now)
        still_pending = len(tracker.pending_signals(store, now))
    finally:
        store.close()
    frame = pd.DataFrame([o.__dict__ for o in outcomes])
    directional = frame.dropna(subset=["hit"]) if not frame.empty else frame
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(outcomes),
            "evaluated": len(outcomes),
            "still_pending": still_pending,
            "hit_rate": float(directional["hit"].astype(float).mean())
            if len(directional)
            else float("nan"),
            "avg_direction_return": float(frame["direction_return"].mean())
            if len(frame)
            else float("nan"),
            "preview": _md(frame.head(10)),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[signal_performance],
    kinds={"sql"},
    description="Hit rate and average return by confidence bucket, symbol, model version, "
    "signal type and day; calibration of live signals (sql/queries/).",
)
def signal_analytics(
    context: dg.AssetExecutionContext, signal_store: SignalStoreResource
) -> dg.MaterializeResult:
    store = SignalStore(signal_store.resolved_url())
    try:
        reports = analytics.signal_analytics(store)
    finally:
        store.close()
    calibration = reports["calibration"]
    metadata: dict[str, object] = {f"table_{name}": _md(frame) for name, frame in reports.items()}
    metadata["signals_with_outcome"] = (
        int(reports["by_signal_type"]["n_signals"].sum()) if len(reports["by_signal_type"]) else 0
    )
    metadata["expected_calibration_error"] = analytics.expected_calibration_error(calibration)
    metadata["plot_calibration"] = _png_md(analytics.plot_calibration(calibration), "calibration")
    metadata["plot_over_time"] = _png_md(
        analytics.plot_over_time(reports["over_time"]), "over time"
    )
    return dg.MaterializeResult(metadata=metadata)
