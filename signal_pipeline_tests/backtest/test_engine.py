"""Hand-computed cases of run_backtest: costs, shorts, stops, targets, timing, limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.backtest import (
    BacktestConfig,
    BacktestInputError,
    CostModel,
    run_backtest,
)
from signal_pipeline_tests.backtest.conftest import make_bars

NO_LEVELS = BacktestConfig(
    initial_capital=100_000.0, max_position_weight=0.5, stop_multiple=None, target_multiple=None
)


def signal(bars: pd.DataFrame, row: int, kind: str, **fields: object) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "symbol": bars["symbol"].iloc[0],
                "ts": bars["ts"].iloc[row],
                "signal_type": kind,
                "position_size": 0.5,
                **fields,
            }
        ]
    )


def test_one_trade_with_known_costs(flat_then_up: pd.DataFrame) -> None:
    costs = CostModel(
        commission_per_share=0.01, min_commission=1.0, half_spread_bps=5.0, slippage_bps=5.0
    )
    result = run_backtest(
        flat_then_up, signal(flat_then_up, 0, "BUY", holding_bars=2), costs=costs, config=NO_LEVELS
    )
    trade = result.trades.iloc[0]
    # Entry: open of row 1 = 100, impact 5 + 5 bps = 0.001 -> fill 100 * 1.001 = 100.1.
    # Shares: 0.5 * 100_000 / 100 = 500; commission max(1, 0.01 * 500) = 5.
    assert trade["shares"] == pytest.approx(500.0)
    assert trade["entry_fill"] == pytest.approx(100.1)
    # Expiry after 2 bars: close of row 2 = 110, sold at 110 * 0.999 = 109.89, commission 5.
    assert trade["exit_reason"] == "expiry"
    assert trade["exit_fill"] == pytest.approx(109.89)
    assert trade["commission"] == pytest.approx(10.0)
    # PnL = 500 * (109.89 - 100.1) - 10 = 4895 - 10 = 4885; return 4885 / 50_050.
    assert trade["pnl"] == pytest.approx(4885.0)
    assert trade["return"] == pytest.approx(4885.0 / 50_050.0)
    # Equity row 1: cash 100_000 - 50_050 - 5 = 49_945, plus 500 * 105 = 52_500.
    assert result.equity.iloc[1] == pytest.approx(102_445.0)
    assert result.equity.iloc[-1] == pytest.approx(104_885.0)
    # Costs: 2 * 5 commission + spread/slippage 500 * 100 * 0.001 + 500 * 110 * 0.001.
    assert result.total_costs() == pytest.approx(10.0 + 50.0 + 55.0)


def test_short_position_profits_from_a_fall() -> None:
    bars = make_bars(
        "BBB",
        [
            (100, 100.5, 99.5, 100),
            (100, 100.2, 94.5, 95),
            (95, 95.5, 89.5, 90),
            (90, 90.5, 89.5, 90),
        ],
    )
    result = run_backtest(
        bars, signal(bars, 0, "SELL", holding_bars=2), costs=CostModel.free(), config=NO_LEVELS
    )
    trade = result.trades.iloc[0]
    # Short 0.5 * 100_000 / 100 = 500 shares at 100, covered at the row-2 close of 90:
    # pnl = -500 * (90 - 100) = +5000.
    assert trade["shares"] == pytest.approx(-500.0)
    assert trade["pnl"] == pytest.approx(5000.0)
    assert trade["return"] == pytest.approx(0.10)
    assert result.equity.iloc[-1] == pytest.approx(105_000.0)
    # While short, net exposure is negative: row 1 is -500 * 95 / (100_000 + 2_500).
    assert result.positions["net_exposure"].iloc[1] == pytest.approx(-47_500 / 102_500)


@pytest.mark.parametrize(
    ("bar2", "exit_price", "reason"),
    [
        ((99.0, 101.0, 96.0, 100.0), 97.0, "stop"),  # low 96 crosses the 97 stop: fill at 97
        ((95.0, 96.0, 94.0, 95.5), 95.0, "stop_gap"),  # opens below the stop: fill at the open
        ((100.0, 121.0, 96.0, 100.0), 97.0, "stop"),  # both levels inside: stop assumed first
        ((101.0, 121.0, 100.5, 119.0), 120.0, "target"),  # high 121 crosses the 120 target
    ],
)
def test_stop_and_target_inside_a_bar(
    bar2: tuple[float, float, float, float], exit_price: float, reason: str
) -> None:
    bars = make_bars(
        "AAA", [(100, 100.5, 99.5, 100), (100, 100.5, 99.5, 100), bar2, (100, 100.5, 99.5, 100)]
    )
    result = run_backtest(
        bars,
        signal(bars, 0, "BUY", stop_loss=97.0, target_price=120.0, holding_bars=3),
        costs=CostModel.free(),
        config=NO_LEVELS,
    )
    trade = result.trades.iloc[0]
    assert trade["exit_reason"] == reason
    assert trade["exit_row"] == 2
    assert trade["exit_fill"] == pytest.approx(exit_price)
    # 500 shares bought at 100: pnl = 500 * (exit - 100).
    assert trade["pnl"] == pytest.approx(500.0 * (exit_price - 100.0))


def test_short_stop_is_above_the_entry() -> None:
    bars = make_bars(
        "AAA",
        [
            (100, 100.5, 99.5, 100),
            (100, 100.5, 99.5, 100),
            (101, 104, 100.5, 103),
            (103, 103.5, 102, 103),
        ],
    )
    result = run_backtest(
        bars,
        signal(bars, 0, "SELL", stop_loss=103.0, target_price=90.0),
        costs=CostModel.free(),
        config=NO_LEVELS,
    )
    trade = result.trades.iloc[0]
    # Short 500 at 100; row 2's high 104 crosses the 103 stop: pnl = -500 * 3 = -1500.
    assert (trade["exit_reason"], trade["exit_row"]) == ("stop", 2)
    assert trade["pnl"] == pytest.approx(-1500.0)


def test_signal_at_bar_t_fills_at_the_open_of_bar_t_plus_1(flat_then_up: pd.DataFrame) -> None:
    result = run_backtest(
        flat_then_up,
        signal(flat_then_up, 1, "BUY", holding_bars=1),
        costs=CostModel.free(),
        config=NO_LEVELS,
    )
    trade = result.trades.iloc[0]
    # Signal made on bar 1 (close 105) enters at bar 2's open (105), never at bar 1's prices.
    assert trade["entry_ts"] == flat_then_up["ts"].iloc[2]
    assert trade["entry_fill"] == pytest.approx(105.0)
    # Equity cannot move before the fill bar.
    assert result.equity.iloc[:2].tolist() == [100_000.0, 100_000.0]

    between = signal(flat_then_up, 1, "BUY", holding_bars=1)
    between["ts"] = between["ts"] + pd.Timedelta(seconds=30)  # known between bars 1 and 2
    assert (
        run_backtest(flat_then_up, between, costs=CostModel.free(), config=NO_LEVELS)
        .trades["entry_row"]
        .iloc[0]
        == 2
    )


def test_target_positions_fill_at_the_next_open(flat_then_up: pd.DataFrame) -> None:
    positions = pd.DataFrame(
        {"symbol": "AAA", "ts": flat_then_up["ts"].iloc[[0, 2]], "weight": [0.5, 0.0]}
    )
    result = run_backtest(
        flat_then_up, positions=positions, costs=CostModel.free(), config=NO_LEVELS
    )
    # Weight decided at row 0 -> 500 shares at row 1's open 100; flat decided at row 2 ->
    # sold at row 3's open 110: pnl = 500 * 10 = 5000.
    assert result.positions["gross_exposure"].iloc[0] == 0.0
    assert result.equity.iloc[-1] == pytest.approx(105_000.0)
    trade = result.trades.iloc[0]
    assert (trade["entry_row"], trade["exit_row"]) == (1, 3)
    assert trade["pnl"] == pytest.approx(5000.0)


def test_buy_and_hold_equals_the_benchmark_return() -> None:
    rng = np.random.default_rng(3)
    closes = 400 * np.exp(np.cumsum(rng.normal(0, 0.001, 390 * 3)))
    opens = np.concatenate([[400.0], closes[:-1]]) * (1 + rng.normal(0, 1e-4, closes.size))
    highs, lows = np.maximum(opens, closes) * 1.0005, np.minimum(opens, closes) * 0.9995
    days = pd.bdate_range("2024-01-02", periods=3)
    ts = pd.DatetimeIndex(
        [
            t
            for d in days
            for t in pd.date_range(
                d + pd.Timedelta("9h31min"), periods=390, freq="min", tz="America/New_York"
            )
        ]
    ).tz_convert("UTC")
    spy = pd.DataFrame(
        {
            "symbol": "SPY",
            "ts": ts,
            "open": opens,
            "high": highs,
            "low": lows,
            "close": closes,
            "volume": 1e6,
        }
    )
    config = BacktestConfig(max_position_weight=1.0)
    # Decided the evening before the first bar: fully invested from the first bar's open.
    before_open = ts[0] - pd.Timedelta(hours=1)
    result = run_backtest(
        spy,
        positions=pd.DataFrame({"symbol": ["SPY"], "ts": [before_open], "weight": [1.0]}),
        costs=CostModel.free(),
        config=config,
    )
    # Total return = last close / first open - 1, the benchmark's own holding return.
    assert result.equity.iloc[-1] / 1e6 - 1 == pytest.approx(closes[-1] / opens[0] - 1, rel=1e-12)
    from signal_pipeline.backtest import daily_benchmark_returns

    benchmark = daily_benchmark_returns(spy)["SPY"]
    # Every daily return is the benchmark's own (day 1: first open to close), so beta is 1,
    # alpha, tracking error and excess return 0.
    np.testing.assert_allclose(result.daily_returns(), benchmark, rtol=0, atol=1e-12)
    metrics = result.metrics(benchmark)
    assert metrics["beta"] == pytest.approx(1.0, rel=1e-9)
    assert metrics["tracking_error"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["excess_return"] == pytest.approx(0.0, abs=1e-9)

    # Decided at the first bar's close instead: invested from bar 1's open.
    late = run_backtest(
        spy,
        positions=pd.DataFrame({"symbol": ["SPY"], "ts": [ts[0]], "weight": [1.0]}),
        costs=CostModel.free(),
        config=config,
    )
    assert late.equity.iloc[-1] / 1e6 - 1 == pytest.approx(closes[-1] / opens[1] - 1, rel=1e-12)


def test_reversal_closes_at_the_opposite_signals_entry(flat_then_up: pd.DataFrame) -> None:
    signals = pd.concat(
        [
            signal(flat_then_up, 0, "BUY", holding_bars=4),
            signal(flat_then_up, 1, "SELL", holding_bars=2),
        ],
        ignore_index=True,
    )
    trades = run_backtest(flat_then_up, signals, costs=CostModel.free(), config=NO_LEVELS).trades
    # Long from row 1's open (100), reversed at row 2's open (105): +500 * 5 = 2500.
    assert trades["exit_reason"].tolist() == ["reversal", "expiry"]
    assert trades["pnl"].iloc[0] == pytest.approx(2500.0)
    # Short sized on equity at row 1's close (102_500): 0.5 * 102_500 / 105 shares.
    assert trades["shares"].iloc[1] == pytest.approx(-0.5 * 102_500 / 105)


def test_same_direction_signal_while_open_is_ignored(flat_then_up: pd.DataFrame) -> None:
    signals = pd.concat(
        [
            signal(flat_then_up, 0, "BUY", holding_bars=4),
            signal(flat_then_up, 1, "BUY", holding_bars=2),
        ],
        ignore_index=True,
    )
    result = run_backtest(flat_then_up, signals, costs=CostModel.free(), config=NO_LEVELS)
    assert len(result.trades) == 1
    assert result.skipped_signals == 1


def test_missing_bar_defers_the_fill_to_the_next_open() -> None:
    aaa = make_bars("AAA", [(100, 101, 99, 100)] * 4)
    bbb = make_bars("BBB", [(50, 51, 49, 50)] * 4).drop(index=1)  # no BBB bar at row 1
    bars = pd.concat([aaa, bbb], ignore_index=True)
    positions = pd.DataFrame({"symbol": ["BBB"], "ts": [aaa["ts"].iloc[0]], "weight": [0.1]})
    result = run_backtest(
        bars,
        positions=positions,
        costs=CostModel.free(),
        config=BacktestConfig(initial_capital=100_000.0),
    )
    # BBB has no open at row 1, so the order waits for row 2's open.
    assert result.trades["entry_row"].iloc[0] == 2
    assert result.positions["gross_exposure"].iloc[1] == 0.0
    assert result.positions["gross_exposure"].iloc[2] == pytest.approx(0.1)


def test_gross_exposure_and_cash_limits() -> None:
    bars = pd.concat(
        [make_bars(s, [(100, 101, 99, 100)] * 3) for s in ("A", "B", "C")], ignore_index=True
    )
    positions = pd.DataFrame(
        {"symbol": ["A", "B", "C"], "ts": bars["ts"].iloc[0], "weight": [0.5, 0.5, 0.5]}
    )
    config = BacktestConfig(
        initial_capital=90_000.0, max_position_weight=0.5, max_gross_exposure=1.2
    )
    result = run_backtest(bars, positions=positions, costs=CostModel.free(), config=config)
    # Targets sum to 1.5 > 1.2: all three scaled by 1.2 / 1.5, but cash (no borrowing)
    # caps buys at the 90_000 of equity: gross exposure 1.0.
    assert result.positions["gross_exposure"].iloc[1] == pytest.approx(1.0)
    assert result.positions["cash"].iloc[1] == pytest.approx(0.0, abs=1e-6)
    borrowing = BacktestConfig(
        initial_capital=90_000.0, max_position_weight=0.5, max_gross_exposure=1.2, max_borrow=1.0
    )
    levered = run_backtest(bars, positions=positions, costs=CostModel.free(), config=borrowing)
    assert levered.positions["gross_exposure"].iloc[1] == pytest.approx(1.2)


def test_derived_levels_from_volatility_multiples() -> None:
    rng = np.random.default_rng(0)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, 600)))
    rows = [(c, c * 1.0002, c * 0.9998, c) for c in closes]
    bars = make_bars("AAA", rows)
    config = BacktestConfig(
        stop_multiple=2.0, target_multiple=3.0, volatility_window=390, holding_bars=16
    )
    result = run_backtest(
        bars, signal(bars, 500, "BUY", position_size=0.1), costs=CostModel.free(), config=config
    )
    trade = result.trades.iloc[0]
    # Level distance = multiple * sigma_bar * sqrt(16) * close at the signal bar.
    sigma = np.std(np.diff(np.log(closes[110:501])), ddof=1)
    move = sigma * 4 * closes[500]
    assert trade["entry_price"] - trade["stop"] == pytest.approx(2 * move, rel=1e-9)
    assert trade["target"] - trade["entry_price"] == pytest.approx(3 * move, rel=1e-9)


def test_bad_inputs_raise_specific_errors(flat_then_up: pd.DataFrame) -> None:
    with pytest.raises(BacktestInputError, match="exactly one"):
        run_backtest(flat_then_up)
    naive = flat_then_up.assign(ts=flat_then_up["ts"].dt.tz_localize(None))
    with pytest.raises(BacktestInputError, match="timezone-naive"):
        run_backtest(naive, signal(flat_then_up, 0, "BUY"))
    unknown = signal(flat_then_up, 0, "BUY").assign(symbol="ZZZ")
    with pytest.raises(BacktestInputError, match="ZZZ"):
        run_backtest(flat_then_up, unknown)
    with pytest.raises(BacktestInputError, match="signal_type"):
        run_backtest(flat_then_up, signal(flat_then_up, 0, "MAYBE"))


def test_equity_never_depends_on_later_bars() -> None:
    from signal_pipeline.backtest import predictions_to_signals
    from signal_pipeline.data import simulate_market

    market = simulate_market(["AAA", "BBB"], 2, seed=7, option_chains=False)
    signals = predictions_to_signals(market.oracle, confidence_threshold=0.55, holding_bars=20)
    cut = market.bars["ts"].sort_values().unique()[500]
    early = market.bars[market.bars["ts"] < cut]
    full = run_backtest(market.bars, signals, costs=CostModel.free())
    truncated = run_backtest(early, signals[signals["ts"] < cut], costs=CostModel.free())
    # Without costs, closing open trades at the last close of the truncated run does not move
    # its equity, so the first 500 bars must agree exactly: nothing later leaked in.
    n = len(truncated.equity)
    np.testing.assert_allclose(truncated.equity.to_numpy(), full.equity.to_numpy()[:n], rtol=1e-12)
    assert len(full.trades) > 10


def test_expires_at_and_long_only(flat_then_up: pd.DataFrame) -> None:
    expiring = signal(flat_then_up, 0, "BUY", expires_at=flat_then_up["ts"].iloc[3])
    trade = run_backtest(flat_then_up, expiring, costs=CostModel.free(), config=NO_LEVELS)
    # Entered at row 1's open (100), expired at the close of row 3 (110): +500 * 10.
    assert (trade.trades["exit_row"].iloc[0], trade.trades["exit_reason"].iloc[0]) == (3, "expiry")
    assert trade.trades["pnl"].iloc[0] == pytest.approx(5000.0)
    long_only = BacktestConfig(
        initial_capital=100_000.0,
        max_position_weight=0.5,
        allow_short=False,
        stop_multiple=None,
        target_multiple=None,
    )
    result = run_backtest(
        flat_then_up, signal(flat_then_up, 0, "SELL"), costs=CostModel.free(), config=long_only
    )
    assert result.trades.empty
    assert result.skipped_signals == 1
    assert result.equity.iloc[-1] == 100_000.0


def test_default_sizing_scales_with_confidence() -> None:
    rng = np.random.default_rng(1)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, 450)))
    bars = make_bars("AAA", [(c, c * 1.001, c * 0.999, c) for c in closes])
    config = BacktestConfig(target_volatility=0.05, max_position_weight=0.2, holding_bars=5)
    sigma = np.std(np.diff(np.log(closes[10:401])), ddof=1) * np.sqrt(252 * 390)
    for confidence in (1.0, 2 / 3):
        one = pd.DataFrame(
            [
                {
                    "symbol": "AAA",
                    "ts": bars["ts"].iloc[400],
                    "direction": 1,
                    "confidence": confidence,
                }
            ]
        )
        trade = run_backtest(bars, one, costs=CostModel.free(), config=config).trades.iloc[0]
        # w = (confidence - 1/3) / (2/3) * min(0.2, 0.05 / sigma_annual)
        expected = (confidence - 1 / 3) / (2 / 3) * min(0.2, 0.05 / sigma)
        assert trade["weight"] == pytest.approx(expected, rel=1e-9)
        assert trade["shares"] * trade["entry_fill"] == pytest.approx(expected * 1e6, rel=1e-9)
