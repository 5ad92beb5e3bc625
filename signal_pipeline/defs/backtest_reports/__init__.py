"""Backtest layer: reports and strategy optimisation of registered model versions."""
