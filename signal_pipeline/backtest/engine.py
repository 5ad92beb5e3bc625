"""``run_backtest``: bars plus signals or target positions in, a :class:`BacktestResult` out.

Inputs follow the bar contract (long format, one row per symbol and bar, ``ts`` = the
bar's close stamp in UTC). They are pivoted once to (time x symbol) float64 arrays on the
union of all stamps; a symbol without a bar at a stamp has NaN there, which the
simulators treat explicitly (no fill, no exit trigger, marked at the last close).

Timing: everything decided at a bar's close (a signal, a target weight) fills at the
OPEN of the next bar: a stamp ``ts`` fills at the first bar stamped strictly after it.
See :mod:`signal_pipeline.backtest.exits` for stops, targets and expiry, and
:mod:`signal_pipeline.backtest.positions` for the target-weight path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from signal_pipeline.backtest.costs import CostModel, half_spread_from_quotes
from signal_pipeline.backtest.errors import BacktestConfigError, BacktestInputError
from signal_pipeline.backtest.exits import PlannedTrade, plan_symbol_trades
from signal_pipeline.backtest.positions import SimulationPaths, simulate_positions
from signal_pipeline.backtest.result import BacktestResult
from signal_pipeline.backtest.sizing import (
    CHANCE_CONFIDENCE,
    trailing_volatility,
    volatility_target_weights,
)
from signal_pipeline.backtest.trades import simulate_trades

BARS_PER_DAY = 390
BARS_PER_YEAR = 252 * BARS_PER_DAY
_REQUIRED_BAR_COLUMNS = ("symbol", "ts", "open", "high", "low", "close")
_SIGNAL_DIRECTIONS = {"BUY": 1.0, "SELL": -1.0, "HOLD": 0.0}


@dataclass(frozen=True)
class BacktestConfig:
    """Strategy and portfolio parameters of a backtest (all weights are fractions of equity).

    ``holding_bars`` is the expiry of signals that carry neither ``expires_at`` nor
    ``holding_bars``. Signals without ``stop_loss``/``target_price`` get levels at
    ``stop_multiple``/``target_multiple`` times the expected move over the holding period,
    ``sigma_bar * sqrt(holding_bars) * price`` (``sigma_bar``: std of the last
    ``volatility_window`` one-bar log returns); ``None`` means no such level.
    """

    initial_capital: float = 1_000_000.0
    max_gross_exposure: float = 1.0
    max_position_weight: float = 0.10
    max_borrow: float = 0.0
    allow_short: bool = True
    min_confidence: float = 0.0
    holding_bars: int = 60
    stop_multiple: float | None = 2.0
    target_multiple: float | None = 3.0
    volatility_window: int = 390
    target_volatility: float = 0.20
    confidence_floor: float = CHANCE_CONFIDENCE
    bars_per_year: float = BARS_PER_YEAR

    def __post_init__(self) -> None:
        if self.initial_capital <= 0 or self.max_gross_exposure <= 0:
            raise BacktestConfigError(
                f"initial_capital={self.initial_capital}, max_gross_exposure="
                f"{self.max_gross_exposure}: both must be > 0"
            )
        if not 0 < self.max_position_weight <= self.max_gross_exposure:
            raise BacktestConfigError(
                f"max_position_weight={self.max_position_weight} must be in "
                f"(0, max_gross_exposure={self.max_gross_exposure}]"
            )
        if self.holding_bars < 1 or self.volatility_window < 2:
            raise BacktestConfigError(
                f"holding_bars={self.holding_bars} must be >= 1 and volatility_window="
                f"{self.volatility_window} >= 2"
            )
        for name in ("stop_multiple", "target_multiple"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise BacktestConfigError(f"{name}={value} must be > 0, or None for no level")


@dataclass
class BarGrid:
    """Bars pivoted to (time x symbol) float64 arrays."""

    times: pd.DatetimeIndex
    symbols: pd.Index
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray | None
    half_spread: np.ndarray | None


def pivot_bars(bars: pd.DataFrame) -> BarGrid:
    """Pivot long-format bars onto the union of stamps (NaN where a symbol has no bar)."""
    missing = [c for c in _REQUIRED_BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise BacktestInputError(
            f"bars lack columns {missing}: the bar contract needs "
            f"{list(_REQUIRED_BAR_COLUMNS)} (+ volume, bid, ask optional)"
        )
    if len(bars) == 0:
        raise BacktestInputError("bars is empty: a backtest needs at least one bar")
    ts = pd.DatetimeIndex(bars["ts"])
    if ts.tz is None:
        raise BacktestInputError(
            "bars.ts is timezone-naive: stamps must be UTC bar-close times; "
            "use pd.to_datetime(..., utc=True)"
        )
    time_codes, times = pd.factorize(ts.tz_convert("UTC"), sort=True)
    symbol_codes, symbols = pd.factorize(bars["symbol"].astype(str), sort=True)
    keys = time_codes.astype(np.int64) * len(symbols) + symbol_codes
    if len(np.unique(keys)) != len(keys):
        raise BacktestInputError(
            "bars have duplicate (symbol, ts) keys: the bar contract requires unique keys; "
            "validate with signal_pipeline.data.validate_bars first"
        )
    shape = (len(times), len(symbols))

    def grid(column: str) -> np.ndarray:
        out = np.full(shape, np.nan)
        out[time_codes, symbol_codes] = bars[column].to_numpy(dtype=np.float64)
        return out

    half_spread = None
    if "bid" in bars.columns and "ask" in bars.columns:
        half_spread = half_spread_from_quotes(grid("bid"), grid("ask"))
    return BarGrid(
        times=pd.DatetimeIndex(times),
        symbols=pd.Index(symbols),
        open=grid("open"),
        high=grid("high"),
        low=grid("low"),
        close=grid("close"),
        volume=grid("volume") if "volume" in bars.columns else None,
        half_spread=half_spread,
    )


def _decision_rows(times: pd.DatetimeIndex, stamps: pd.Series, what: str) -> np.ndarray:
    """Row of the last bar stamped at or before each stamp (-1 if before the first bar)."""
    values = pd.DatetimeIndex(pd.to_datetime(stamps))
    if values.tz is None:
        raise BacktestInputError(
            f"{what}.ts is timezone-naive: use UTC stamps (pd.to_datetime(..., utc=True))"
        )
    return np.searchsorted(times.asi8, values.tz_convert("UTC").asi8, side="right") - 1


def _symbol_columns(grid: BarGrid, symbols: pd.Series, what: str) -> np.ndarray:
    cols = grid.symbols.get_indexer(symbols.astype(str))
    if (cols < 0).any():
        unknown = sorted(set(symbols.astype(str)[cols < 0]))[:5]
        raise BacktestInputError(
            f"{what} name symbols without bars: {unknown}; pass bars for every symbol traded"
        )
    return cols


def _signal_directions(signals: pd.DataFrame) -> np.ndarray:
    if "direction" in signals.columns:
        return np.sign(signals["direction"].to_numpy(dtype=float))
    if "signal_type" in signals.columns:
        kinds = signals["signal_type"].astype(str).str.upper()
        bad = sorted(set(kinds) - set(_SIGNAL_DIRECTIONS))
        if bad:
            raise BacktestInputError(
                f"signals.signal_type has values {bad[:5]}: allowed are BUY, SELL, HOLD"
            )
        return kinds.map(_SIGNAL_DIRECTIONS).to_numpy(dtype=float)
    raise BacktestInputError(
        "signals need a 'signal_type' (BUY/SELL/HOLD) or a 'direction' (+1/-1/0) column"
    )


def _optional(signals: pd.DataFrame, column: str, default: float) -> np.ndarray:
    if column not in signals.columns:
        return np.full(len(signals), default)
    return pd.to_numeric(signals[column], errors="coerce").to_numpy(dtype=float)


def _plan_signals(
    grid: BarGrid, signals: pd.DataFrame, config: BacktestConfig
) -> tuple[list[PlannedTrade], np.ndarray, int]:
    """Lifecycle of every usable signal, the requested weight of each trade, skip count."""
    for column in ("symbol", "ts"):
        if column not in signals.columns:
            raise BacktestInputError(f"signals lack the {column!r} column")
    direction = _signal_directions(signals)
    confidence = _optional(signals, "confidence", 1.0)
    usable = (direction != 0) & (confidence >= config.min_confidence)
    if not config.allow_short:
        usable &= direction > 0
    signals = signals.reset_index(drop=True)
    cols = _symbol_columns(grid, signals["symbol"], "signals")
    decided = _decision_rows(grid.times, signals["ts"], "signals")
    entry = decided + 1
    n_bars = len(grid.times)
    holding = _optional(signals, "holding_bars", np.nan)
    holding = np.where(np.isfinite(holding) & (holding >= 1), holding, config.holding_bars)
    last = entry + holding.astype(np.int64) - 1
    if "expires_at" in signals.columns:
        expires = pd.to_datetime(signals["expires_at"], utc=True)
        has = expires.notna().to_numpy()
        if has.any():
            expiry_rows = np.searchsorted(
                grid.times.asi8, pd.DatetimeIndex(expires[has]).asi8, side="right"
            ) - 1
            last[has] = expiry_rows
    usable &= (entry < n_bars) & (last >= entry)

    sigma_ann = np.full(len(signals), np.nan)
    for i in np.flatnonzero(usable & (decided >= 0)):
        sigma_ann[i] = trailing_volatility(
            grid.close[:, cols[i]], int(decided[i]), config.volatility_window, config.bars_per_year
        )
    sigma_bar = sigma_ann / np.sqrt(config.bars_per_year)
    ref_close = np.where(decided >= 0, grid.close[np.maximum(decided, 0), cols], np.nan)
    move = sigma_bar * np.sqrt(np.maximum(last - entry + 1, 1)) * ref_close
    stop_distance = move * (config.stop_multiple if config.stop_multiple else np.nan)
    target_distance = move * (config.target_multiple if config.target_multiple else np.nan)

    weights = _optional(signals, "position_size", np.nan)
    sized = volatility_target_weights(
        direction, confidence, sigma_ann,
        target_volatility=config.target_volatility,
        max_weight=config.max_position_weight,
        confidence_floor=config.confidence_floor,
    )
    weights = np.where(np.isfinite(weights), np.abs(weights), np.abs(sized))

    stop = _optional(signals, "stop_loss", np.nan)
    target = _optional(signals, "target_price", np.nan)
    planned: list[PlannedTrade] = []
    index = np.flatnonzero(usable)
    for col in np.unique(cols[index]):
        mine = index[cols[index] == col]
        planned += plan_symbol_trades(
            mine, entry[mine], last[mine], direction[mine], stop[mine], target[mine],
            stop_distance[mine], target_distance[mine], int(col),
            grid.open[:, col], grid.high[:, col], grid.low[:, col], grid.close[:, col],
        )
    trade_weights = np.array([weights[t.signal_index] for t in planned])
    skipped = len(signals) - len(planned)
    return planned, trade_weights, skipped


def _positions_grid(grid: BarGrid, positions: pd.DataFrame) -> np.ndarray:
    """Target weights on the bar grid, each held until the symbol's next given weight."""
    for column in ("symbol", "ts", "weight"):
        if column not in positions.columns:
            raise BacktestInputError(
                f"positions lack the {column!r} column: expected symbol, ts, weight"
            )
    cols = _symbol_columns(grid, positions["symbol"], "positions")
    rows = _decision_rows(grid.times, positions["ts"], "positions")
    keep = rows >= 0
    frame = pd.DataFrame(
        {"row": rows[keep], "col": cols[keep],
         "weight": positions["weight"].to_numpy(dtype=float)[keep]}
    ).drop_duplicates(["row", "col"], keep="last")
    weights = np.full(grid.close.shape, np.nan)
    weights[frame["row"].to_numpy(), frame["col"].to_numpy()] = frame["weight"].to_numpy()
    return pd.DataFrame(weights).ffill().fillna(0.0).to_numpy()


def _result(
    grid: BarGrid, paths: SimulationPaths, trades: pd.DataFrame,
    config: BacktestConfig, costs: CostModel, skipped: int,
) -> BacktestResult:
    index = grid.times
    equity = pd.Series(paths.equity, index=index, name="equity")
    previous = np.concatenate([[config.initial_capital], paths.equity[:-1]])
    positions = pd.DataFrame(
        {
            "cash": paths.cash,
            "gross_exposure": paths.gross_exposure / paths.equity,
            "net_exposure": paths.net_exposure / paths.equity,
            "turnover": paths.traded_notional / previous,
            "costs": paths.costs,
        },
        index=index,
    )
    if len(trades):
        trades = trades.copy()
        trades.insert(0, "symbol", grid.symbols[trades["symbol_index"].to_numpy()])
        trades["entry_ts"] = index[trades["entry_row"].to_numpy()]
        trades["exit_ts"] = index[trades["exit_row"].to_numpy()]
    return BacktestResult(
        equity=equity,
        positions=positions,
        trades=trades.reset_index(drop=True),
        initial_capital=config.initial_capital,
        config={**asdict(config), **{f"cost_{k}": v for k, v in asdict(costs).items()}},
        skipped_signals=skipped,
    )


def run_backtest(
    bars: pd.DataFrame,
    signals: pd.DataFrame | None = None,
    positions: pd.DataFrame | None = None,
    *,
    costs: CostModel | None = None,
    config: BacktestConfig | None = None,
) -> BacktestResult:
    """Simulate ``signals`` or target ``positions`` over ``bars``; exactly one of the two.

    ``signals``: ``symbol, ts`` and ``signal_type`` (BUY/SELL/HOLD) or ``direction``
    (+1/-1/0); optional ``confidence`` (default 1), ``target_price``, ``stop_loss``,
    ``expires_at`` or ``holding_bars``, ``position_size`` (weight; default: sized by
    confidence-scaled volatility targeting). ``positions``: ``symbol, ts, weight`` (target
    fraction of equity, negative = short), each held until the symbol's next row.
    """
    if (signals is None) == (positions is None):
        raise BacktestInputError(
            "run_backtest needs exactly one of signals= or positions=; "
            f"got signals={'set' if signals is not None else None}, "
            f"positions={'set' if positions is not None else None}"
        )
    costs = costs or CostModel()
    config = config or BacktestConfig()
    grid = pivot_bars(bars)
    if positions is not None:
        weights = _positions_grid(grid, positions)
        if not config.allow_short and (weights < 0).any():
            raise BacktestInputError(
                "positions contain negative weights but config.allow_short is False"
            )
        clipped = np.clip(weights, -config.max_position_weight, config.max_position_weight)
        paths = simulate_positions(
            grid.open, grid.close, clipped,
            high=grid.high, low=grid.low, volume=grid.volume, half_spread=grid.half_spread,
            costs=costs, initial_capital=config.initial_capital,
            max_gross_exposure=config.max_gross_exposure, max_borrow=config.max_borrow,
        )
        t = paths.trades
        with np.errstate(divide="ignore", invalid="ignore"):
            ret = t["pnl"] / t["entry_notional"]
        trades = pd.DataFrame(
            {
                "symbol_index": t["symbol"].astype(np.int64),
                "direction": t["direction"],
                "entry_row": t["entry_row"].astype(np.int64),
                "exit_row": t["exit_row"].astype(np.int64),
                "entry_notional": t["entry_notional"],
                "pnl": t["pnl"],
                "return": ret,
                "still_open": t["still_open"],
            }
        ).sort_values(["entry_row", "symbol_index"], kind="stable")
        return _result(grid, paths, trades, config, costs, 0)

    assert signals is not None
    planned, trade_weights, skipped = _plan_signals(grid, signals, config)
    paths, trades = simulate_trades(
        planned, trade_weights, grid.open, grid.high, grid.low, grid.close,
        volume=grid.volume, half_spread=grid.half_spread, costs=costs,
        initial_capital=config.initial_capital, max_gross_exposure=config.max_gross_exposure,
        max_position_weight=config.max_position_weight, max_borrow=config.max_borrow,
    )
    if len(trades):
        trades["signal_ts"] = pd.DatetimeIndex(
            pd.to_datetime(signals["ts"].reset_index(drop=True), utc=True)
        )[trades["signal_index"].to_numpy()]
        trades["confidence"] = _optional(
            signals.reset_index(drop=True), "confidence", 1.0
        )[trades["signal_index"].to_numpy()]
    return _result(grid, paths, trades, config, costs, skipped)
