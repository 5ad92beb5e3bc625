"""Backtest of a model version on its walk-forward out-of-fold predictions.

A model version is judged only on the predictions it made for rows it was not trained
on: the ``oof`` frame of :func:`signal_pipeline.models.train_ensemble` (``symbol, ts,
fold``, the ensemble's ``p_*`` and the calibrated ``cal_p_*`` probabilities, ``label``).
Anything else - a frame without a ``fold`` column, rows with a missing or negative fold,
rows flagged ``in_sample`` - is refused with :class:`InSampleError`, because in-sample
predictions make any strategy look good.

Where OOF frames come from (a saved ``TrainedEnsemble`` folder, the MLflow run of a
registered version) and where the report goes: :mod:`signal_pipeline.backtest.model_sources`.

Probabilities: the calibrated ones by default (``cal_p_*``: what the deployed model
emits, so thresholds mean the same thing here and in production). The calibrator is a
low-capacity map fitted on all OOF rows, so these are not strictly out-of-sample;
``probabilities="raw"`` uses the uncalibrated OOF ensemble probabilities instead.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from signal_pipeline.backtest.benchmark import compare_to_benchmarks, daily_benchmark_returns
from signal_pipeline.backtest.config import BacktestConfig
from signal_pipeline.backtest.costs import CostModel
from signal_pipeline.backtest.engine import run_backtest
from signal_pipeline.backtest.errors import BacktestInputError, InSampleError
from signal_pipeline.backtest.optimiser import predictions_to_signals, refuse_in_sample
from signal_pipeline.backtest.report import results_row, write_html_report
from signal_pipeline.backtest.result import BacktestResult, session_dates

Probabilities = Literal["calibrated", "raw"]
PROBABILITY_COLUMNS: dict[str, tuple[str, str, str]] = {
    "calibrated": ("cal_p_sell", "cal_p_hold", "cal_p_buy"),
    "raw": ("p_sell", "p_hold", "p_buy"),
}
# The figures of the metrics table, in display order.
TABLE_METRICS = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "var_95",
    "cvar_95",
    "trade_count",
    "win_rate",
    "profit_factor",
    "exposure",
    "turnover",
)
BENCHMARK_METRICS = ("alpha", "beta", "information_ratio", "tracking_error", "excess_return")


def oof_predictions(
    oof: pd.DataFrame, *, probabilities: Probabilities = "calibrated"
) -> pd.DataFrame:
    """``symbol, ts, fold, p_sell, p_hold, p_buy`` of an OOF frame, refusing non-OOF rows."""
    if probabilities not in PROBABILITY_COLUMNS:
        raise BacktestInputError(
            f"probabilities={probabilities!r}: use 'calibrated' (cal_p_*) or 'raw' (p_*)"
        )
    if "fold" not in oof.columns:
        raise InSampleError(
            "the predictions have no 'fold' column, so nothing shows they are out-of-fold: "
            "pass the oof frame of train_ensemble (TrainedEnsemble.oof or its oof.parquet)"
        )
    refuse_in_sample(oof)
    folds = pd.to_numeric(oof["fold"], errors="coerce")
    bad = int((folds.isna() | (folds < 0)).sum())
    if bad:
        raise InSampleError(
            f"{bad} prediction rows have a missing or negative fold (rows never held out): "
            "backtests use only walk-forward out-of-fold predictions; drop those rows"
        )
    columns = PROBABILITY_COLUMNS[probabilities]
    missing = [c for c in ("symbol", "ts", *columns) if c not in oof.columns]
    if missing:
        raise BacktestInputError(
            f"the OOF frame lacks {missing}: expected the oof frame of train_ensemble "
            f"(symbol, ts, fold, p_*, cal_p_*); probabilities={probabilities!r}"
        )
    out = oof[["symbol", "ts", "fold", *columns]].copy()
    out.columns = ["symbol", "ts", "fold", "p_sell", "p_hold", "p_buy"]
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    duplicated = int(out.duplicated(["symbol", "ts"]).sum())
    if duplicated:
        raise BacktestInputError(
            f"{duplicated} (symbol, ts) pairs appear more than once in the OOF frame: "
            "walk-forward OOF predicts each row once; pass one model version's frame"
        )
    return out.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)


def bars_for_predictions(bars: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """The bars of the predicted symbols on the sessions from the first to the last OOF
    session: the first training window has no OOF prediction, and flat days there would
    only dilute the metrics."""
    stamps = pd.DatetimeIndex(pd.to_datetime(bars["ts"], utc=True))
    dates = session_dates(stamps)
    predicted = session_dates(pd.DatetimeIndex(predictions["ts"]))
    keep = (
        bars["symbol"].isin(predictions["symbol"].unique()).to_numpy()
        & (dates >= predicted.min())
        & (dates <= predicted.max())
    )
    window = bars.loc[keep]
    if window.empty:
        raise BacktestInputError(
            f"no bars of the predicted symbols between {predicted.min():%Y-%m-%d} and "
            f"{predicted.max():%Y-%m-%d}: load raw_bars for the model's training period"
        )
    return window.reset_index(drop=True)


def benchmark_returns(
    benchmarks: pd.DataFrame | Mapping[str, pd.Series],
) -> dict[str, pd.Series]:
    """Daily benchmark returns from a bar frame (``benchmark_bars``) or as given."""
    if isinstance(benchmarks, pd.DataFrame):
        return daily_benchmark_returns(benchmarks)
    return dict(benchmarks)


@dataclass
class ModelBacktest:
    """The backtest of one model version's OOF predictions."""

    result: BacktestResult
    predictions: pd.DataFrame
    signals: pd.DataFrame
    benchmarks: dict[str, pd.Series]
    metrics: dict[str, float]  # daily metrics, the benchmark block against SPY
    comparison: pd.DataFrame  # one row per benchmark (SPY, QQQ)
    row: dict[str, Any]  # the results-table row
    report_path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def metrics_table(self) -> pd.DataFrame:
        """Strategy figures, then alpha/beta/IR/TE/excess return against each benchmark."""
        rows = {name: self.metrics.get(name, math.nan) for name in TABLE_METRICS}
        for benchmark, block in self.comparison.iterrows():
            for name in BENCHMARK_METRICS:
                rows[f"{name} vs {benchmark}"] = float(block[name])
        return pd.DataFrame({"value": rows})

    def metrics_markdown(self) -> str:
        return self.metrics_table().to_markdown(floatfmt=".4f")

    def equity_png(self) -> bytes:
        """Growth of 1 of the strategy and the benchmarks (daily), as a PNG."""
        from matplotlib.figure import Figure

        returns = self.result.daily_returns()
        index = pd.DatetimeIndex(returns.index)
        fig = Figure(figsize=(8, 3.2))
        ax = fig.subplots()
        ax.plot(index, (1 + returns.fillna(0)).cumprod(), label="strategy", lw=1.6)
        for name, series in self.benchmarks.items():
            aligned = series.reindex(returns.index).fillna(0.0)
            ax.plot(index, (1 + aligned).cumprod(), label=name, lw=1.0)
        ax.set_ylabel("growth of 1")
        ax.legend(loc="best")
        ax.grid(alpha=0.3)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
        return buffer.getvalue()


def backtest_model_version(
    oof: pd.DataFrame,
    bars: pd.DataFrame,
    benchmark_bars: pd.DataFrame | Mapping[str, pd.Series],
    *,
    config: BacktestConfig | None = None,
    costs: CostModel | None = None,
    confidence_threshold: float = 0.6,
    holding_bars: int = 15,
    probabilities: Probabilities = "calibrated",
    report_path: str | Path | None = None,
    run_name: str = "model-backtest",
    info: Mapping[str, Any] | None = None,
) -> ModelBacktest:
    """Trade the OOF predictions of a model version over ``bars`` and measure the result.

    A BUY/SELL signal is emitted where the most probable class is not HOLD and its
    probability is at least ``confidence_threshold``; it is held ``holding_bars`` bars at
    most (stop and target from ``config``). ``benchmark_bars``: the ``benchmark_bars``
    table (SPY, QQQ) or daily returns by session date. ``info`` (e.g. model name,
    version, run id) goes into the report header and the results row.
    """
    if not 0 <= confidence_threshold <= 1 or holding_bars < 1:
        raise BacktestInputError(
            f"confidence_threshold={confidence_threshold} must be in [0, 1] and "
            f"holding_bars={holding_bars} >= 1"
        )
    predictions = oof_predictions(oof, probabilities=probabilities)
    window = bars_for_predictions(bars, predictions)
    references = benchmark_returns(benchmark_bars)
    config = replace(config or BacktestConfig(), holding_bars=holding_bars)
    signals = predictions_to_signals(
        predictions, confidence_threshold=confidence_threshold, holding_bars=holding_bars
    )
    if signals.empty:
        # No prediction clears the threshold: the honest result is a flat book.
        flat = window[["symbol", "ts"]].head(1).assign(weight=0.0)
        result = run_backtest(window, positions=flat, costs=costs, config=config)
    else:
        result = run_backtest(window, signals=signals, costs=costs, config=config)
    daily = result.daily_returns()
    metrics = result.metrics(references.get("SPY"))
    comparison = (
        compare_to_benchmarks(daily, references) if references else pd.DataFrame(columns=[])
    )
    details: dict[str, Any] = {
        **dict(info or {}),
        "predictions": "walk-forward out-of-fold",
        "probabilities": probabilities,
        "confidence_threshold": confidence_threshold,
        "holding_bars": holding_bars,
        "oof_rows": len(predictions),
        "oof_folds": int(predictions["fold"].nunique()),
        "signals": len(signals),
        "first_session": str(daily.index.min())[:10],
        "last_session": str(daily.index.max())[:10],
    }
    row = results_row(result, run_name, references, **details)
    path = None
    if report_path is not None:
        path = write_html_report(
            result, report_path, references, title=f"Backtest: {run_name}", metadata=details
        )
    return ModelBacktest(
        result=result,
        predictions=predictions,
        signals=signals,
        benchmarks=references,
        metrics=metrics,
        comparison=comparison,
        row=row,
        report_path=path,
        info=details,
    )
