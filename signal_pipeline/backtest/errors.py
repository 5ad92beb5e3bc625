"""Exceptions of the backtesting package: each names the bad input, the rule and the fix."""

from __future__ import annotations


class BacktestError(ValueError):
    """Base class of every backtest input error."""


class BacktestConfigError(BacktestError):
    """A configuration or cost parameter is out of its valid range."""


class BacktestInputError(BacktestError):
    """Bars, signals, positions or returns do not follow the documented contract."""


class InSampleError(BacktestError):
    """Predictions flagged in-sample were passed where only out-of-fold ones are allowed."""
