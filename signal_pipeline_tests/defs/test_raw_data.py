"""The raw-data layer through Dagster, in-process, on temporary folders."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from signal_pipeline.data.storage import Warehouse
from signal_pipeline.defs.raw_bars import assets as raw
from signal_pipeline.defs.raw_bars import checks
from signal_pipeline.defs.resources import WarehouseResource

RAW_ASSETS = [raw.raw_bars, raw.quotes, raw.option_chains, raw.benchmark_bars, raw.simulator_oracle]
RAW_CHECKS = [
    checks.raw_bars_contract,
    checks.benchmark_bars_contract,
    checks.option_chains_contract,
]


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


def _materialise(tmp_path: Path, assets, run_config=None, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*assets, *RAW_CHECKS],
        resources={"warehouse": WarehouseResource(root=str(tmp_path / "warehouse"))},
        run_config=run_config,
        instance=dg.DagsterInstance.ephemeral(),
        **kwargs,
    )


def _check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


@pytest.mark.slow
def test_simulated_backfill_writes_every_table_and_checks_pass(tmp_path: Path) -> None:
    config = {"sim_symbols": 3, "sim_seed": 11}
    result = _materialise(
        tmp_path,
        RAW_ASSETS,
        run_config={"ops": {a.key.to_user_string(): {"config": config} for a in RAW_ASSETS}},
        tags=_range_tags("2024-01-03", "2024-01-05"),
    )
    assert result.success
    wh = Warehouse(tmp_path / "warehouse")
    assert wh.partitions("raw_bars") == ["2024-01-03", "2024-01-04", "2024-01-05"]
    bars = wh.read("raw_bars")
    assert bars["symbol"].nunique() == 3 and len(bars) == 3 * 3 * 390
    assert set(wh.read("benchmark_bars")["symbol"]) == {"SPY", "QQQ"}
    assert not wh.read("option_chains").empty
    assert _check_results(result) == {
        "raw_bars_contract": True,
        "benchmark_bars_contract": True,
        "option_chains_contract": True,
    }
    meta = result.asset_materializations_for_node("raw_bars")[0].metadata
    assert meta["dagster/row_count"].value == len(bars)


def _yahoo_csv(path: Path) -> pd.DataFrame:
    days = pd.bdate_range("2024-01-02", periods=5)
    close = np.array([100.0, 101.0, 99.5, 102.0, 103.0])
    frame = pd.DataFrame(
        {
            "Date": days.strftime("%Y-%m-%d"),
            "Open": close - 0.5,
            "High": close + 1.0,
            "Low": close - 1.0,
            "Close": close,
            "Adj Close": close * 0.98,
            "Volume": [1_000_000, 1_100_000, 900_000, 1_200_000, 1_300_000],
        }
    )
    frame.to_csv(path, index=False)
    return frame


@pytest.mark.slow
def test_yahoo_daily_csv_ingests_through_dagster(tmp_path: Path) -> None:
    source = tmp_path / "ACME.csv"
    yahoo = _yahoo_csv(source)
    config = {"source": "files", "paths": [str(source)], "price": "adjusted"}
    result = _materialise(
        tmp_path,
        [raw.raw_bars],
        run_config={"ops": {"raw_bars": {"config": config}}},
        tags=_range_tags("2024-01-02", "2024-01-08"),
        selection=[raw.raw_bars, checks.raw_bars_contract],
    )
    assert result.success
    bars = Warehouse(tmp_path / "warehouse").read("raw_bars")
    assert bars["symbol"].unique().tolist() == ["ACME"]
    assert len(bars) == 5
    # adjusted prices: every price scaled by Adj Close / Close (0.98 here)
    np.testing.assert_allclose(bars["close"], yahoo["Adj Close"])
    np.testing.assert_allclose(bars["open"], yahoo["Open"] * 0.98)
    # daily bars are stamped at the 16:00 New York close, stored in UTC
    assert bars["ts"].dt.tz_convert("America/New_York").dt.strftime("%H:%M").unique().tolist() == [
        "16:00"
    ]
    assert _check_results(result) == {"raw_bars_contract": True}


@pytest.mark.slow
def test_intraday_csv_with_time_zone_ingests_through_dagster(tmp_path: Path) -> None:
    stamps = pd.date_range("2024-01-02 09:30", periods=30, freq="min", tz="America/New_York")
    rng = np.random.default_rng(3)
    close = 50 + np.cumsum(rng.normal(0, 0.05, 30))
    frame = pd.DataFrame(
        {
            "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S%z"),  # open-time stamps with offset
            "symbol": "XYZ",
            "open": close,
            "high": close + 0.1,
            "low": close - 0.1,
            "close": close,
            "volume": 1000.0,
        }
    )
    source = tmp_path / "xyz_1m.csv"
    frame.to_csv(source, index=False)
    config = {"source": "files", "paths": [str(source)], "stamp": "open"}
    result = _materialise(
        tmp_path,
        [raw.raw_bars],
        run_config={"ops": {"raw_bars": {"config": config}}},
        partition_key="2024-01-02",
        selection=[raw.raw_bars, checks.raw_bars_contract],
    )
    assert result.success
    bars = Warehouse(tmp_path / "warehouse").read("raw_bars")
    assert len(bars) == 30
    # open-time 09:30 becomes the close stamp 09:31 New York = 14:31 UTC
    assert bars["ts"].iloc[0] == pd.Timestamp("2024-01-02 14:31", tz="UTC")
    assert _check_results(result) == {"raw_bars_contract": True}


def test_files_source_without_paths_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = _materialise(
        tmp_path,
        [raw.raw_bars],
        run_config={"ops": {"raw_bars": {"config": {"source": "files"}}}},
        partition_key="2024-01-02",
        selection=[raw.raw_bars],
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("raw_bars")
    assert failure is not None and "needs config 'paths'" in str(failure.error.message)
