"""Dagster assets and the expiration job, materialised in process on temp folders."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from signal_pipeline.data.storage import Warehouse
from signal_pipeline.defs.resources import SignalStoreResource, WarehouseResource
from signal_pipeline.defs.signal_snapshots.assets import signal_analytics, signal_performance
from signal_pipeline.defs.signal_snapshots.checks import signals_integrity
from signal_pipeline.defs.signal_snapshots.schedules import (
    expire_signals_job,
    expire_signals_schedule,
)
from signal_pipeline.signals.store import SignalStore

from .conftest import T0, make_signal
from .test_tracker import bars


@pytest.fixture
def resources(tmp_path: Path) -> dict[str, dg.ConfigurableResource]:
    return {
        "signal_store": SignalStoreResource(url=f"sqlite:///{tmp_path / 'signals.db'}"),
        "warehouse": WarehouseResource(root=str(tmp_path / "warehouse")),
    }


def test_performance_then_analytics(resources: dict, tmp_path: Path) -> None:
    Warehouse(tmp_path / "warehouse").write_partitioned("raw_bars", bars())
    store = SignalStore(resources["signal_store"].url, outbox_dir=tmp_path / "outbox")
    ids = store.write(
        [
            make_signal(signal_type="BUY", ttl_minutes=5, target_price=102.0, stop_loss=99.0),
            make_signal(signal_type="SELL", ttl_minutes=5, minutes=0.5),
            make_signal(symbol="MSFT", ttl_minutes=5),  # no bars: stays pending
        ]
    ).ids
    as_of = (T0 + timedelta(minutes=6)).isoformat()
    result = dg.materialize(
        [signal_performance, signal_analytics, signals_integrity],
        resources=resources,
        run_config={"ops": {"signal_performance": {"config": {"as_of": as_of}}}},
    )
    assert result.success
    perf = result.asset_materializations_for_node("signal_performance")[0].metadata
    assert perf["evaluated"].value == 2 and perf["still_pending"].value == 1
    assert perf["hit_rate"].value == pytest.approx(0.5)
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["orphan_outcomes"].value == 0
    assert store.get(ids[0]).performance == 1.0
    meta = result.asset_materializations_for_node("signal_analytics")[0].metadata
    assert meta["signals_with_outcome"].value == 2
    assert "data:image/png;base64," in meta["plot_calibration"].value
    assert "AAPL" in meta["table_by_symbol"].value
    store.close()


def test_expire_job_archives(resources: dict, tmp_path: Path) -> None:
    store = SignalStore(resources["signal_store"].url, outbox_dir=tmp_path / "outbox")
    store.write(
        [make_signal(ttl_minutes=5), make_signal(minutes=1, ttl_minutes=5)]
    )  # 2024: expired
    result = expire_signals_job.execute_in_process(
        resources={"signal_store": resources["signal_store"]}
    )
    assert result.success and result.output_for_node("archive_expired_signals") == 2
    assert store.count() == 0 and store.count("signals_archive") == 2
    assert expire_signals_schedule.cron_schedule == "*/5 * * * *"
    store.close()
