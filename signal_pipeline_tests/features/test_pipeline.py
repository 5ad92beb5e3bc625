"""compute_features: coverage of the families, the no-look-ahead proof and bad input."""

from __future__ import annotations

import gc
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.data import simulate_market
from signal_pipeline.features import BarStreamError, compute_features, load_feature_spec
from signal_pipeline.features.pipeline import BlockPool, iter_features, symbol_features
from signal_pipeline.features.process_pool import WorkerCountError, ordered_map
from signal_pipeline.features.shared_frames import (
    SHM_DIR,
    SharedBlock,
    SharedFrame,
    ShmFiles,
    share_frame,
)


@pytest.fixture(scope="module")
def full_table(market_small) -> pd.DataFrame:
    return compute_features(
        market_small.bars, option_chains=market_small.option_chains, quotes=market_small.quotes
    )


def test_table_shape_keys_and_hash(full_table: pd.DataFrame, bars_small: pd.DataFrame) -> None:
    spec = load_feature_spec()
    assert full_table.attrs["feature_spec_hash"] == spec.version_hash
    assert list(full_table.columns[:2]) == ["symbol", "ts"]
    pd.testing.assert_series_equal(full_table["ts"], bars_small["ts"], check_names=False)
    features = full_table.columns[2:]
    assert (full_table[features].dtypes == np.float64).all()
    assert set(spec.technical_columns) <= set(features)
    for tf in ("1m", "5m", "15m", "1h", "1d"):
        assert f"spread_rel_{tf}" in features and f"vwap_dev_session_{tf}" in features
    assert any(c.endswith("_1d") and c.startswith("iv_") for c in features), "options family"


def test_values_are_finite_after_warmup_and_rsi_in_range(full_table: pd.DataFrame) -> None:
    warm = load_feature_spec().warmup_rows()
    for col, rows in warm.items():
        values = full_table[col].to_numpy()
        assert np.isfinite(values[rows:]).all(), col
    rsi = full_table.filter(regex=r"^rsi_\d+_").to_numpy()
    assert np.nanmin(rsi) >= 0 and np.nanmax(rsi) <= 100


def test_no_look_ahead_for_every_feature(market_small, full_table: pd.DataFrame) -> None:
    """Rows of a prefix table equal the same rows of the full table, bit for bit. The cut
    falls at 11:10 ET of the 4th session: inside an hour, a 15-minute bucket and a day."""
    bars = market_small.bars
    for cut in (3 * 390 + 100, 5 * 390 + 7):
        end = bars["ts"].iloc[cut - 1]
        prefix = compute_features(
            bars.iloc[:cut],
            option_chains=market_small.option_chains[market_small.option_chains["ts"] <= end],
            quotes=market_small.quotes.iloc[:cut],
        )
        expected = full_table.iloc[:cut]
        assert list(prefix.columns) == list(expected.columns)
        for col in expected.columns[2:]:
            np.testing.assert_array_equal(prefix[col].to_numpy(), expected[col].to_numpy(),
                                          err_msg=col)  # fmt: skip


def test_multiple_symbols_match_per_symbol_tables(two_symbol_bars: pd.DataFrame) -> None:
    table = compute_features(two_symbol_bars)
    frames = list(iter_features(two_symbol_bars))
    assert [f["symbol"].iloc[0] for f in frames] == ["AAA", "BBB"]
    alone = compute_features(two_symbol_bars[two_symbol_bars["symbol"] == "BBB"])
    got = table[table["symbol"] == "BBB"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, alone, check_exact=True)


def test_one_symbol_with_its_own_chains_and_quotes_equals_its_rows_of_many(
    three_symbol_market,
) -> None:
    """A single symbol's request (no grouping, frames used as given) and the same symbol
    inside a multi-symbol call (grouped, chains and quotes split) give the same rows."""
    market = three_symbol_market
    table = compute_features(market.bars, option_chains=market.option_chains,
                             quotes=market.quotes)  # fmt: skip
    mine = {name: frame[frame["symbol"] == "BBB"] for name, frame in
            (("bars", market.bars), ("chains", market.option_chains), ("quotes", market.quotes))}  # fmt: skip
    alone = compute_features(mine["bars"], option_chains=mine["chains"], quotes=mine["quotes"])
    got = table[table["symbol"] == "BBB"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, alone, check_exact=True)
    # other symbols' chains and quotes given along: the same rows again
    mixed = compute_features(mine["bars"], option_chains=market.option_chains,
                             quotes=market.quotes)  # fmt: skip
    pd.testing.assert_frame_equal(mixed, alone, check_exact=True)
    assert alone["iv_solved_share_1d"].notna().any() and alone["spread_rel_1m"].notna().all()


def test_block_pool_reuses_a_block_only_once_its_frame_is_freed(bars_small: pd.DataFrame) -> None:
    spec = load_feature_spec({"timeframes": ["1m", "5m"], "technical": {"sma": {"period": 5}},
                              "microstructure": {"enabled": False},
                              "options": {"enabled": False}})  # fmt: skip
    pool = BlockPool(min_bytes=0)  # these small blocks would otherwise come from np.empty
    first = symbol_features("AAA", bars_small.iloc[:780], spec, allocate=pool)
    expected = first.copy()
    address = first["sma_5_5m"].to_numpy().__array_interface__["data"][0]
    second = symbol_features("AAA", bars_small.iloc[780:1560], spec, allocate=pool)
    pd.testing.assert_frame_equal(first, expected, check_exact=True)  # not overwritten
    assert second["sma_5_5m"].to_numpy().__array_interface__["data"][0] != address
    del first
    gc.collect()
    third = symbol_features("AAA", bars_small.iloc[1560:2340], spec, allocate=pool)
    assert third["sma_5_5m"].to_numpy().__array_interface__["data"][0] == address
    pd.testing.assert_frame_equal(third, symbol_features("AAA", bars_small.iloc[1560:2340],
                                                         spec), check_exact=True)  # fmt: skip
    pool.close()
    del second, third
    gc.collect()
    assert pool((2, 3)).shape == (2, 3)  # still usable; nothing kept once closed
    assert not pool._free


def test_bad_bars_raise_named_errors(bars_small: pd.DataFrame) -> None:
    with pytest.raises(BarStreamError, match="no_gap"):
        compute_features(bars_small.drop(index=500))
    with pytest.raises(BarStreamError, match="unique"):
        compute_features(pd.concat([bars_small.iloc[:10], bars_small.iloc[9:20]]))
    broken = bars_small.copy()
    broken.loc[42, "close"] = 0.0
    with pytest.raises(BarStreamError, match="positive_finite") as err:
        compute_features(broken)
    assert err.value.ts == bars_small["ts"].iloc[42]


def test_chain_with_non_positive_prices_is_refused(market_small) -> None:
    chains = market_small.option_chains.copy()
    chains.loc[chains.index[3], "ask"] = -1.0
    with pytest.raises(ValueError, match="ask"):
        compute_features(market_small.bars.iloc[:400], option_chains=chains)


def test_unknown_feature_in_spec_is_refused(bars_small: pd.DataFrame) -> None:
    from signal_pipeline.features import FeatureSpecError

    with pytest.raises(FeatureSpecError, match="vortex"):
        compute_features(bars_small.iloc[:100], spec={"technical": {"vortex": {}}})


@pytest.fixture(scope="module")
def three_symbol_market():
    """Three symbols, 3 sessions, with quotes and option chains: every family runs."""
    return simulate_market(["AAA", "BBB", "CCC"], 3, seed=13)


def _shm_leftovers() -> set[str]:
    return (
        {p.name for p in SHM_DIR.glob("signal_pipeline_features_*")} if SHM_DIR.is_dir() else set()
    )


@pytest.mark.slow  # starts 2 processes: ~2-4 s on the shared cores
def test_two_workers_give_the_serial_table(three_symbol_market) -> None:
    market = three_symbol_market
    inputs = {"option_chains": market.option_chains, "quotes": market.quotes}
    serial = compute_features(market.bars, **inputs)
    before = _shm_leftovers()
    pooled = compute_features(market.bars, **inputs, workers=2)
    pd.testing.assert_frame_equal(pooled, serial, check_exact=True)
    assert pooled.attrs == serial.attrs
    assert pooled["symbol"].unique().tolist() == ["AAA", "BBB", "CCC"]  # input order
    assert _shm_leftovers() <= before, "every shared-memory file is removed once mapped"


@pytest.mark.slow  # starts 2 processes
def test_worker_errors_are_the_serial_errors(three_symbol_market) -> None:
    bars = three_symbol_market.bars
    broken = bars.drop(index=bars.index[bars["symbol"] == "BBB"][500])
    with pytest.raises(BarStreamError) as serial:
        compute_features(broken)
    before = _shm_leftovers()
    with pytest.raises(BarStreamError) as pooled:
        compute_features(broken, workers=2)
    assert str(pooled.value) == str(serial.value)
    assert (pooled.value.symbol, pooled.value.ts, pooled.value.rule) == (
        serial.value.symbol, serial.value.ts, serial.value.rule)  # fmt: skip
    assert pooled.value.rule == "no_gap" and pooled.value.symbol == "BBB"
    # AAA's (and maybe CCC's) frame was computed before the error: its file is gone too.
    assert _shm_leftovers() <= before


@pytest.mark.slow  # starts 2 processes
def test_workers_started_early_by_a_warm_up_keep_the_order() -> None:
    """``warm`` runs in each worker as it starts (before the first task is drawn); the
    results still come in task order."""
    tasks = [(base, 2) for base in range(7)]
    assert list(ordered_map(pow, tasks, 2, warm=os.getpid)) == [b**2 for b in range(7)]


@pytest.mark.parametrize("workers", [0, -2, 1.5, True, "2"])
def test_bad_worker_count_is_refused(bars_small: pd.DataFrame, workers: object) -> None:
    with pytest.raises(WorkerCountError, match="workers="):
        compute_features(bars_small.iloc[:100], workers=workers)  # type: ignore[arg-type]


def test_one_worker_and_one_symbol_stay_in_process(bars_small: pd.DataFrame) -> None:
    """workers=1, or a single symbol, is the serial path (no process is started)."""
    serial = compute_features(bars_small.iloc[:400])
    for workers in (1, 2):
        got = compute_features(bars_small.iloc[:400], workers=workers)
        pd.testing.assert_frame_equal(got, serial, check_exact=True)
    assert not multiprocessing.active_children()


def test_shared_frame_round_trip_is_exact_and_removes_its_file(bars_small: pd.DataFrame) -> None:
    frame = compute_features(bars_small.iloc[:400])
    frame.insert(2, "row", np.arange(len(frame)))  # an int column between the floats' keys
    shared = share_frame(frame)
    assert isinstance(shared, SharedFrame) and Path(shared.path).exists()
    loaded = shared.load()
    assert not Path(shared.path).exists(), "the name goes once the frame is mapped"
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True)
    assert loaded.attrs == frame.attrs
    loaded.iloc[5, 3] = 42.0  # the mapped block is an ordinary writable frame
    assert loaded.iloc[5, 3] == 42.0 and frame.iloc[5, 3] != 42.0
    unused = share_frame(frame)
    assert isinstance(unused, SharedFrame)
    unused.discard()
    assert not Path(unused.path).exists()


def test_a_shared_file_is_reused_only_after_its_frame_is_freed(bars_small: pd.DataFrame) -> None:
    first = compute_features(bars_small.iloc[:400])
    second = compute_features(bars_small.iloc[400:800])
    files = ShmFiles()
    held = share_frame(first)
    assert isinstance(held, SharedFrame)
    loaded = held.load(files)
    column = loaded[loaded.columns[5]].to_numpy()  # a view of the block: keeps the file
    assert column.base is not None and not column.flags.owndata
    expected = column.copy()
    del loaded
    gc.collect()
    assert files.take() is None, "a file viewed by a live frame is not free"
    np.testing.assert_array_equal(column, expected)
    del column
    gc.collect()
    path = files.take()
    assert path == held.path
    reused = share_frame(second, reuse=path)
    assert isinstance(reused, SharedFrame) and reused.path == path
    pd.testing.assert_frame_equal(reused.load(files), second, check_exact=True)
    files.close()
    assert not Path(path).exists()


def test_features_written_straight_into_a_shared_block(bars_small: pd.DataFrame) -> None:
    """The worker's path, in this process: the block allocated in a (reused) shared file."""
    spec = load_feature_spec()
    files = ShmFiles()
    frames = []
    for part, reuse in ((bars_small.iloc[:400], None), (bars_small.iloc[400:900], "again")):
        path = files.take() if reuse else None
        assert (path is not None) == bool(reuse), "the first frame's file is free again"
        block = SharedBlock(path)
        shared = block.share(symbol_features("AAA", part, spec, allocate=block))
        assert isinstance(shared, SharedFrame) and (path is None or shared.path == path)
        serial = symbol_features("AAA", part, spec)
        pd.testing.assert_frame_equal(shared.load(files), serial, check_exact=True)
        frames.append(shared.path)
        gc.collect()
    files.close()
    assert not any(Path(p).exists() for p in frames)
