"""The feature layer through Dagster: resampled bars and the feature table."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from signal_pipeline.data.storage import Warehouse
from signal_pipeline.defs.feature_tables import assets as feat
from signal_pipeline.defs.feature_tables import checks as feat_checks
from signal_pipeline.defs.raw_bars import assets as raw
from signal_pipeline.defs.resources import WarehouseResource
from signal_pipeline.features import compute_features
from signal_pipeline.features.validation import ROW_COLUMN


def _tags(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


@pytest.mark.slow
def test_feature_table_partitions_equal_one_batch_over_the_history(tmp_path: Path) -> None:
    resources = {"warehouse": WarehouseResource(root=str(tmp_path / "wh"))}
    instance = dg.DagsterInstance.ephemeral()
    sim = {"config": {"sim_symbols": 2, "sim_seed": 5}}
    raw_assets = [raw.raw_bars, raw.quotes, raw.option_chains]
    assert dg.materialize(
        raw_assets,
        resources=resources,
        instance=instance,
        tags=_tags("2024-01-02", "2024-01-04"),
        run_config={"ops": {a.key.to_user_string(): sim for a in raw_assets}},
    ).success
    # features of the last two days, computed in two separate runs (one per partition)
    for day in ("2024-01-03", "2024-01-04"):
        result = dg.materialize(
            [feat.feature_table, feat_checks.feature_table_expectations, feat.resampled_bars],
            resources=resources,
            instance=instance,
            partition_key=day,
            selection=[feat.feature_table, feat_checks.feature_table_expectations],
        )
        assert result.success
        checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert [c.asset_check_evaluation_data.passed for c in checks] == [True]
    wh = Warehouse(tmp_path / "wh")
    stored = wh.read("feature_table")
    assert len(stored) == 2 * 2 * 390
    # each row knows its place in the symbol's whole history (day 1 is warm-up history)
    assert stored.groupby("symbol")[ROW_COLUMN].min().tolist() == [390, 390]
    # the same rows as one batch over all three days
    bars = wh.read("raw_bars")
    batch = compute_features(bars, option_chains=wh.read("option_chains"), quotes=wh.read("quotes"))
    batch = batch[batch["ts"] >= stored["ts"].min()].reset_index(drop=True)
    features = [c for c in batch.columns if c not in ("symbol", "ts")]
    np.testing.assert_array_equal(stored[features].to_numpy(), batch[features].to_numpy())
    manifest = wh.read("feature_table_manifest")
    assert set(manifest["date"]) == {"2024-01-03", "2024-01-04"}
    assert manifest["feature_spec_hash"].nunique() == 1


@pytest.mark.slow
def test_resampled_bars_are_written_per_timeframe(tmp_path: Path) -> None:
    resources = {"warehouse": WarehouseResource(root=str(tmp_path / "wh"))}
    instance = dg.DagsterInstance.ephemeral()
    sim = {"ops": {"raw_bars": {"config": {"sim_symbols": 2}}}}
    assert dg.materialize(
        [raw.raw_bars],
        resources=resources,
        instance=instance,
        partition_key="2024-01-02",
        run_config=sim,
    ).success
    assert dg.materialize(
        [feat.resampled_bars], resources=resources, instance=instance, partition_key="2024-01-02"
    ).success
    wh = Warehouse(tmp_path / "wh")
    one_minute = wh.read("raw_bars")
    five = wh.read("bars_5m")
    assert len(five) == 2 * 78  # 390 minutes / 5
    first = one_minute[one_minute["symbol"] == "SYM000"].iloc[:5]
    row = five[five["symbol"] == "SYM000"].iloc[0]
    assert row["ts"] == first["ts"].iloc[-1]  # stamped at the close of its last minute
    assert row["open"] == first["open"].iloc[0] and row["close"] == first["close"].iloc[-1]
    assert row["high"] == first["high"].max() and row["low"] == first["low"].min()
    assert row["volume"] == first["volume"].sum()
    hourly = wh.read("bars_1h")
    # 09:30-16:00 anchored at the open: 6 full hours and a half-hour bar at 16:00
    assert len(hourly) == 2 * 7
    assert (
        pd.Timestamp(hourly["ts"].iloc[-1]).tz_convert("America/New_York").strftime("%H:%M")
        == "16:00"
    )
    assert len(wh.read("bars_1d")) == 2
