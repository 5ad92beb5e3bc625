"""Walk-forward optimisation: out-of-sample only, in-sample rows refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.backtest import (
    BacktestConfig,
    InSampleError,
    SearchSpace,
    predictions_to_signals,
    run_backtest,
    walk_forward_optimise,
)
from signal_pipeline.backtest.result import session_dates
from signal_pipeline.data import simulate_market


def test_predictions_become_signals_above_the_threshold() -> None:
    ts = pd.date_range("2024-01-02 14:31", periods=4, freq="min", tz="UTC")
    predictions = pd.DataFrame(
        {
            "symbol": "AAA",
            "ts": ts,
            "p_sell": [0.1, 0.6, 0.2, 0.45],
            "p_hold": [0.2, 0.3, 0.6, 0.1],
            "p_buy": [0.7, 0.1, 0.2, 0.45],
        }
    )
    signals = predictions_to_signals(predictions, confidence_threshold=0.5, holding_bars=7)
    # Row 0: BUY at 0.7; row 1: SELL at 0.6; row 2: HOLD wins -> none; row 3: 0.45 < 0.5.
    assert signals["direction"].tolist() == [1.0, -1.0]
    assert signals["confidence"].tolist() == [0.7, 0.6]
    assert (signals["holding_bars"] == 7).all()


def test_in_sample_predictions_are_refused() -> None:
    ts = pd.date_range("2024-01-02 14:31", periods=2, freq="min", tz="UTC")
    predictions = pd.DataFrame(
        {
            "symbol": "AAA",
            "ts": ts,
            "p_sell": 0.1,
            "p_hold": 0.1,
            "p_buy": 0.8,
            "in_sample": [False, True],
        }
    )
    with pytest.raises(InSampleError, match="1 prediction rows are flagged in_sample"):
        predictions_to_signals(predictions, confidence_threshold=0.5, holding_bars=5)


def test_walk_forward_reports_the_out_of_sample_runs() -> None:
    market = simulate_market(["AAA", "BBB"], 6, seed=3, option_chains=False)
    predictions = market.oracle[["symbol", "ts", "p_sell", "p_hold", "p_buy"]]
    space = SearchSpace(confidence_threshold=(0.5, 0.8), holding_bars=(5, 30))
    config = BacktestConfig()
    result = walk_forward_optimise(
        market.bars, predictions, n_windows=2, n_trials=3, space=space, config=config, seed=1
    )
    windows = result.windows
    assert len(windows) == 2
    assert (windows["test_start"] > windows["train_end"]).all()
    # Out-of-sample returns cover only the test windows: none from the first window.
    oos_dates = set(session_dates(pd.DatetimeIndex(result.oos_returns.index)))
    assert min(oos_dates) == windows["test_start"].iloc[0]
    assert len(result.trial_sharpes) == 2 * 3
    assert 0.0 <= result.metrics["deflated_sharpe"] <= 1.0
    # The reported second window is the best parameters re-run, untouched, on that window.
    last = windows.iloc[1]
    dates = session_dates(pd.DatetimeIndex(market.bars["ts"]))
    mask = (dates >= last["test_start"]) & (dates <= last["test_end"])
    test_bars = market.bars[np.asarray(mask)]
    signals = predictions_to_signals(
        predictions[predictions["ts"].isin(test_bars["ts"])],
        confidence_threshold=last["confidence_threshold"],
        holding_bars=last["holding_bars"],
    )
    rerun = run_backtest(
        test_bars,
        signals,
        config=BacktestConfig(
            holding_bars=int(last["holding_bars"]),
            stop_multiple=last["stop_multiple"],
            target_multiple=last["target_multiple"],
        ),
    )
    tail = result.oos_returns.iloc[-len(rerun.returns) :]
    np.testing.assert_allclose(tail.to_numpy(), rerun.returns.to_numpy(), rtol=1e-12)
