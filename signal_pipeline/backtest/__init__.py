"""Backtesting: engine, costs, sizing, metrics, risk, benchmarks, optimiser, report.

Names resolve lazily, so ``from signal_pipeline.backtest import performance_metrics``
does not import matplotlib or optuna. See ``docs/backtesting.md``.
"""

from __future__ import annotations

from signal_pipeline._lazy import lazy_exports

_EXPORTS = {
    "run_backtest": "signal_pipeline.backtest.engine",
    "BacktestConfig": "signal_pipeline.backtest.config",
    "pivot_bars": "signal_pipeline.backtest.grid",
    "BacktestResult": "signal_pipeline.backtest.result",
    "CostModel": "signal_pipeline.backtest.costs",
    "simulate_positions": "signal_pipeline.backtest.positions",
    "SimulationPaths": "signal_pipeline.backtest.positions",
    "volatility_target_weights": "signal_pipeline.backtest.sizing",
    "performance_metrics": "signal_pipeline.backtest.metrics",
    "historical_var": "signal_pipeline.backtest.risk",
    "historical_cvar": "signal_pipeline.backtest.risk",
    "parametric_var": "signal_pipeline.backtest.risk",
    "parametric_cvar": "signal_pipeline.backtest.risk",
    "drawdown_series": "signal_pipeline.backtest.risk",
    "max_drawdown_duration": "signal_pipeline.backtest.risk",
    "benchmark_block": "signal_pipeline.backtest.benchmark",
    "compare_to_benchmarks": "signal_pipeline.backtest.benchmark",
    "daily_benchmark_returns": "signal_pipeline.backtest.benchmark",
    "load_benchmark_returns": "signal_pipeline.backtest.benchmark",
    "deflated_sharpe_ratio": "signal_pipeline.backtest.deflated_sharpe",
    "walk_forward_optimise": "signal_pipeline.backtest.optimiser",
    "predictions_to_signals": "signal_pipeline.backtest.optimiser",
    "WalkForwardResult": "signal_pipeline.backtest.optimiser",
    "SearchSpace": "signal_pipeline.backtest.optimiser",
    "render_html_report": "signal_pipeline.backtest.report",
    "write_html_report": "signal_pipeline.backtest.report",
    "results_row": "signal_pipeline.backtest.report",
    "append_results_row": "signal_pipeline.backtest.report",
    "BacktestError": "signal_pipeline.backtest.errors",
    "BacktestConfigError": "signal_pipeline.backtest.errors",
    "BacktestInputError": "signal_pipeline.backtest.errors",
    "InSampleError": "signal_pipeline.backtest.errors",
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
