"""OnlineFeatureEngine: equal to the batch table row by row, cache, bad streams."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from signal_pipeline.data.validation import OptionChainError
from signal_pipeline.features import BarStreamError, OnlineFeatureEngine, compute_features
from signal_pipeline.features.spec import DEFAULT_SPEC_PATH

# Small spec whose 1m buffer wraps twice in 2,240 bars (RSI 5 keeps 165 bars; capacity 1,189).
SMALL_SPEC = {
    "timeframes": ["1m", "5m", "1h"],
    "technical": {"sma": {"period": 5}, "ema": {"period": 3}, "rsi": {"period": 5},
                  "adx": {"period": 3}, "bbands": {"period": 5, "nbdev": 2}},
    "microstructure": {"enabled": False},
    "options": {"enabled": False},
}  # fmt: skip


def assert_rows_agree(online: pd.DataFrame, batch: pd.DataFrame) -> None:
    """Same columns; NaN where batch has NaN; otherwise |a-b| <= 1e-9 * max(|a|, |b|, 1)."""
    batch = batch.drop(columns=["symbol", "ts"]).reset_index(drop=True)
    online = online.reset_index(drop=True)
    assert list(online.columns) == list(batch.columns)
    a, b = online.to_numpy(), batch.to_numpy()
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1.0)
    worst = np.where(np.isnan(a), 0.0, np.abs(a - b) / scale).max(axis=0)
    bad = {c: w for c, w in zip(batch.columns, worst, strict=True) if w > 1e-9}
    assert not bad, bad


def _stream(engine: OnlineFeatureEngine, bars: pd.DataFrame, quotes=None, chains=None):
    qmap = {} if quotes is None else {r.ts: r._asdict() for r in quotes.itertuples(index=False)}
    cmap = {} if chains is None else {t: g for t, g in chains.groupby("ts")}
    rows = []
    for bar in bars.to_dict("records"):
        rows.append(engine.update(bar, chain=cmap.get(bar["ts"]), quote=qmap.get(bar["ts"])))
    return pd.DataFrame(rows)


def test_small_spec_matches_batch_while_buffers_wrap(bars_small: pd.DataFrame) -> None:
    engine = OnlineFeatureEngine(SMALL_SPEC)
    assert engine.buffer_lengths()["1m"] == 165  # RSI 5: 2 * 5 + ln(1e-15) / ln(0.8)
    engine.warm_start(bars_small.iloc[:100])
    online = _stream(engine, bars_small.iloc[100:])
    assert_rows_agree(online, compute_features(bars_small, spec=SMALL_SPEC).iloc[100:])
    stats = engine.cache_stats
    assert stats["updates"] == len(bars_small) - 100
    assert 0 < stats["saved_share"] < 1 and stats["blocks_reused"] > 0


@pytest.mark.slow
def test_full_spec_matches_batch_on_2000_bars(market_small) -> None:
    """Every feature of the default spec (technical, microstructure, options), 2,040 bars."""
    bars, quotes, chains = market_small.bars, market_small.quotes, market_small.option_chains
    batch = compute_features(bars, option_chains=chains, quotes=quotes)
    engine = OnlineFeatureEngine()
    cut = 300
    engine.warm_start(bars.iloc[:cut], quotes=quotes.iloc[:cut],
                      option_chains=chains[chains["ts"] <= bars["ts"].iloc[cut - 1]])  # fmt: skip
    online = _stream(engine, bars.iloc[cut:], quotes.iloc[cut:], chains)
    assert len(online) >= 2000
    assert any(c.startswith("iv_") for c in online.columns)  # the options family is there
    assert_rows_agree(online, batch.iloc[cut:])


def test_bad_streams_raise_named_errors(bars_small: pd.DataFrame) -> None:
    engine = OnlineFeatureEngine(SMALL_SPEC)
    rows = bars_small.iloc[:20].to_dict("records")
    for bar in rows[:10]:
        engine.update(bar)
    with pytest.raises(BarStreamError, match="unique") as dup:
        engine.update(rows[9])
    assert dup.value.symbol == "AAA" and dup.value.rule == "unique"
    with pytest.raises(BarStreamError, match="sorted"):
        engine.update(rows[5])
    with pytest.raises(BarStreamError, match="no_gap") as gap:
        engine.update(rows[12])
    assert gap.value.ts == pd.Timestamp(rows[12]["ts"])
    with pytest.raises(BarStreamError, match="positive_finite"):
        engine.update({**rows[10], "low": -1.0})
    with pytest.raises(BarStreamError, match="in_session"):
        engine.update({**rows[10], "ts": rows[10]["ts"] + pd.Timedelta(seconds=30)})
    late_quote = {"ts": rows[11]["ts"], "bid": 1.0, "ask": 1.1, "bid_size": 1.0, "ask_size": 1.0}
    with pytest.raises(BarStreamError, match="quote_not_future"):
        engine.update(rows[10], quote=late_quote)
    # after refused bars the stream continues where it was
    assert engine.update(rows[10]).name == pd.Timestamp(rows[10]["ts"])


def test_higher_timeframe_recomputed_only_on_close(bars_small: pd.DataFrame) -> None:
    engine = OnlineFeatureEngine(SMALL_SPEC)
    engine.warm_start(bars_small.iloc[:390])
    before = engine.cache_stats["blocks_computed"]
    rows = [engine.update(bar) for bar in bars_small.iloc[390:450].to_dict("records")]
    # 60 minutes: 60 x 1m blocks, 12 x 5m closes, one 1h close (at 10:30)
    assert engine.cache_stats["blocks_computed"] - before == 60 + 12 + 1
    hourly = pd.DataFrame(rows)["sma_5_1h"]
    assert hourly.iloc[:-1].nunique() == 1 and hourly.iloc[-1] != hourly.iloc[-2]


def test_history_override_sets_buffer_lengths(bars_small: pd.DataFrame) -> None:
    engine = OnlineFeatureEngine(SMALL_SPEC, history={"1m": 40})
    assert engine.buffer_lengths()["1m"] == 40
    assert engine.buffer_lengths()["5m"] == 165
    engine.warm_start(bars_small.iloc[:200])
    row = engine.latest("AAA")
    # SMA 5 only needs 5 bars: exact even with the shortened buffer
    batch = compute_features(bars_small.iloc[:200], spec=SMALL_SPEC)
    assert row["sma_5_1m"] == pytest.approx(batch["sma_5_1m"].iloc[-1], rel=1e-12)
    with pytest.raises(KeyError, match="ZZZ"):
        engine.latest("ZZZ")


OPTIONS_SPEC = {
    "timeframes": ["1m"],
    "technical": {"ema": {"period": 5}},
    "microstructure": {"enabled": False},
    # a short IV window so that rank and percentiles have values within 6 sessions
    "options": {"params": {"iv_lookback": 3, "iv_min_periods": 2}},
}


def test_option_history_features_follow_the_batch_snapshot_by_snapshot(market_small) -> None:
    """Each new chain costs one snapshot's features; the IV rank and percentiles still
    equal the batch's, which computes them over all snapshots at once."""
    bars, chains = market_small.bars, market_small.option_chains
    assert chains["ts"].nunique() >= 5
    batch = compute_features(bars, option_chains=chains, spec=OPTIONS_SPEC)
    engine = OnlineFeatureEngine(OPTIONS_SPEC, options_history=4)
    engine.warm_start(bars.iloc[:400], option_chains=chains[chains["ts"] <= bars["ts"].iloc[399]])
    online = _stream(engine, bars.iloc[400:], chains=chains[chains["ts"] > bars["ts"].iloc[399]])
    history = [c for c in online.columns if c.startswith(("iv_rank", "iv_pctl"))]
    assert history and online[history].iloc[-1].notna().all()
    assert_rows_agree(online, batch.iloc[400:])


def test_a_bad_chain_is_refused_before_the_bar_changes_anything(market_small) -> None:
    bars, chains = market_small.bars, market_small.option_chains
    engine = OnlineFeatureEngine(OPTIONS_SPEC)
    rows = bars.iloc[:3].to_dict("records")
    engine.update(rows[0])
    chain = chains[chains["ts"] == chains["ts"].iloc[0]].copy()
    chain["ts"] = rows[1]["ts"]
    bad = chain.assign(bid=-1.0)
    with pytest.raises(OptionChainError, match="negative_price"):
        engine.update(rows[1], chain=bad)
    # the refused update left the stream where it was: the same bar is accepted now
    assert engine.update(rows[1], chain=chain).name == pd.Timestamp(rows[1]["ts"])


def test_kernels_and_window_recompute_give_the_same_rows(bars_small: pd.DataFrame) -> None:
    """The compiled streaming kernels against TA-Lib recomputed on each trailing window,
    for the whole default technical spec."""
    raw = yaml.safe_load(DEFAULT_SPEC_PATH.read_text())
    spec = {**raw, "microstructure": {"enabled": False}, "options": {"enabled": False}}
    fast, slow = OnlineFeatureEngine(spec), OnlineFeatureEngine(spec, kernels=False)
    for engine in (fast, slow):
        engine.warm_start(bars_small.iloc[:1200])
    assert fast._kernel_names and len(fast.spec.technical_columns) > 350
    a = _stream(fast, bars_small.iloc[1200:1500])
    b = _stream(slow, bars_small.iloc[1200:1500])
    assert_rows_agree(a, b.assign(symbol="AAA", ts=0))
