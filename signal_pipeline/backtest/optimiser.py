"""Walk-forward strategy optimisation with Optuna; reports out-of-sample results only.

The session dates are cut into ``n_windows + 1`` consecutive windows. For each k, an
Optuna study searches the strategy parameters (confidence threshold, holding period,
stop and target multiples) on window k, maximising the annualised Sharpe ratio of the
per-bar returns there; the best parameters are then run, untouched, on window k + 1.
The reported result is the concatenation of those k + 1 test runs (their returns
chained), never the in-sample best. Its deflated Sharpe ratio accounts for every trial
of every study (:mod:`signal_pipeline.backtest.deflated_sharpe`).

Predictions come as ``symbol, ts, p_sell, p_hold, p_buy`` (+ optional ``fold``): the
walk-forward out-of-fold predictions of the training pipeline. Rows flagged
``in_sample`` are refused (:class:`InSampleError`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import optuna
import pandas as pd

from signal_pipeline.backtest.config import BacktestConfig
from signal_pipeline.backtest.costs import CostModel
from signal_pipeline.backtest.deflated_sharpe import deflated_sharpe_of_returns
from signal_pipeline.backtest.engine import run_backtest
from signal_pipeline.backtest.errors import BacktestInputError, InSampleError
from signal_pipeline.backtest.metrics import performance_metrics, sharpe_ratio
from signal_pipeline.backtest.result import session_dates

PROBABILITY_COLUMNS = ("p_sell", "p_hold", "p_buy")  # class order SELL=0, HOLD=1, BUY=2


@dataclass(frozen=True)
class SearchSpace:
    """Bounds of the strategy parameters Optuna searches."""

    confidence_threshold: tuple[float, float] = (0.34, 0.90)
    holding_bars: tuple[int, int] = (5, 120)
    stop_multiple: tuple[float, float] = (0.5, 4.0)
    target_multiple: tuple[float, float] = (0.5, 6.0)


def refuse_in_sample(predictions: pd.DataFrame) -> None:
    """Raise :class:`InSampleError` if any row is flagged ``in_sample``."""
    if "in_sample" in predictions.columns and predictions["in_sample"].astype(bool).any():
        count = int(predictions["in_sample"].astype(bool).sum())
        raise InSampleError(
            f"{count} prediction rows are flagged in_sample: backtests use only the "
            "walk-forward out-of-fold predictions; drop those rows or pass the OOF frame"
        )


def predictions_to_signals(
    predictions: pd.DataFrame, *, confidence_threshold: float, holding_bars: int
) -> pd.DataFrame:
    """BUY/SELL signals where the most probable class is not HOLD and beats the threshold."""
    missing = {"symbol", "ts", *PROBABILITY_COLUMNS} - set(predictions.columns)
    if missing:
        raise BacktestInputError(
            f"predictions lack {sorted(missing)}: expected symbol, ts, p_sell, p_hold, p_buy"
        )
    refuse_in_sample(predictions)
    probabilities = predictions[list(PROBABILITY_COLUMNS)].to_numpy(dtype=float)
    label = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    keep = (label != 1) & (confidence >= confidence_threshold)
    signals = predictions.loc[keep, ["symbol", "ts"]].reset_index(drop=True)  # keeps ts tz
    signals["direction"] = np.where(label[keep] == 2, 1.0, -1.0)
    signals["confidence"] = confidence[keep]
    signals["holding_bars"] = holding_bars
    return signals


@dataclass
class WalkForwardResult:
    """Out-of-sample outcome of a walk-forward optimisation."""

    windows: pd.DataFrame  # one row per (train, test) pair: dates, best params, IS/OOS Sharpe
    oos_returns: pd.Series  # per-bar returns of the chained test windows
    metrics: dict[str, float]  # performance_metrics of the OOS per-bar returns + DSR
    trial_sharpes: np.ndarray  # annualised Sharpe of every trial of every study


def _window_slices(dates: pd.Index, n_windows: int) -> list[pd.DatetimeIndex]:
    unique = pd.DatetimeIndex(dates.unique()).sort_values()
    if unique.size < n_windows + 1:
        raise BacktestInputError(
            f"{unique.size} sessions cannot make {n_windows + 1} walk-forward windows; "
            "pass more data or a smaller n_windows"
        )
    bounds = np.linspace(0, unique.size, n_windows + 2).round().astype(int)
    return [unique[bounds[i] : bounds[i + 1]] for i in range(n_windows + 1)]


def _run(
    bars: pd.DataFrame,
    predictions: pd.DataFrame,
    params: dict[str, Any],
    base: BacktestConfig,
    costs: CostModel,
) -> pd.Series:
    config = replace(
        base,
        holding_bars=int(params["holding_bars"]),
        stop_multiple=float(params["stop_multiple"]),
        target_multiple=float(params["target_multiple"]),
    )
    signals = predictions_to_signals(
        predictions,
        confidence_threshold=float(params["confidence_threshold"]),
        holding_bars=int(params["holding_bars"]),
    )
    if signals.empty:
        flat = pd.Series(0.0, index=pd.DatetimeIndex(sorted(set(bars["ts"]))))
        return flat.rename("returns")
    return run_backtest(bars, signals=signals, costs=costs, config=config).returns


def walk_forward_optimise(
    bars: pd.DataFrame,
    predictions: pd.DataFrame,
    *,
    n_windows: int = 3,
    n_trials: int = 20,
    space: SearchSpace | None = None,
    costs: CostModel | None = None,
    config: BacktestConfig | None = None,
    seed: int = 0,
    storage: str | None = None,
    study_prefix: str = "walk-forward",
) -> WalkForwardResult:
    """Optimise on window k, test on k + 1, for k = 0 .. n_windows - 1 (module docstring).

    ``storage``: an Optuna storage URL (e.g. ``get_settings().optuna_storage``) to keep
    the studies; in memory when None.
    """
    space = space or SearchSpace()
    costs = costs or CostModel()
    config = config or BacktestConfig()
    refuse_in_sample(predictions)
    bar_dates = session_dates(pd.DatetimeIndex(bars["ts"]))
    prediction_dates = session_dates(pd.DatetimeIndex(predictions["ts"]))
    windows = _window_slices(bar_dates, n_windows)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def part(dates: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.DataFrame]:
        return (
            bars[np.asarray(bar_dates.isin(dates))],
            predictions[np.asarray(prediction_dates.isin(dates))],
        )

    rows, oos_parts, trial_sharpes = [], [], []
    for k in range(n_windows):
        train_bars, train_predictions = part(windows[k])
        test_bars, test_predictions = part(windows[k + 1])

        def objective(trial: optuna.Trial, tb=train_bars, tp=train_predictions) -> float:
            params = {
                "confidence_threshold": trial.suggest_float(
                    "confidence_threshold", *space.confidence_threshold
                ),
                "holding_bars": trial.suggest_int("holding_bars", *space.holding_bars),
                "stop_multiple": trial.suggest_float("stop_multiple", *space.stop_multiple),
                "target_multiple": trial.suggest_float("target_multiple", *space.target_multiple),
            }
            value = sharpe_ratio(
                _run(tb, tp, params, config, costs).to_numpy(),
                periods_per_year=config.bars_per_year,
            )
            # No trade (flat returns) is worth exactly nothing, not an undefined ratio.
            return float(value) if np.isfinite(value) else 0.0

        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed + k),
            storage=storage,
            study_name=f"{study_prefix}-{k}" if storage else None,
            load_if_exists=storage is not None,
        )
        study.optimize(objective, n_trials=n_trials)
        trial_sharpes += [t.value for t in study.trials if t.value is not None]
        best = dict(study.best_params)
        oos = _run(test_bars, test_predictions, best, config, costs)
        oos_parts.append(oos)
        rows.append(
            {
                "window": k,
                "train_start": windows[k][0],
                "train_end": windows[k][-1],
                "test_start": windows[k + 1][0],
                "test_end": windows[k + 1][-1],
                **best,
                "in_sample_sharpe": float(study.best_value),
                "out_of_sample_sharpe": sharpe_ratio(
                    oos.to_numpy(), periods_per_year=config.bars_per_year
                ),
            }
        )
    oos_returns = pd.concat(oos_parts).rename("returns")
    metrics = performance_metrics(oos_returns, periods_per_year=config.bars_per_year)
    sharpes = np.asarray(trial_sharpes, dtype=float)
    dsr = deflated_sharpe_of_returns(
        oos_returns.to_numpy(), sharpes / np.sqrt(config.bars_per_year)
    )
    metrics.update(dsr)
    return WalkForwardResult(
        windows=pd.DataFrame(rows),
        oos_returns=oos_returns,
        metrics=metrics,
        trial_sharpes=sharpes,
    )
