"""Wall time of the demo's ``backtest_report`` computation.

The demo universe: simulated bars of 8 symbols x 60 sessions (the demo seed) and the
simulator's SPY/QQQ. The OOF frame comes from a *small* training, timed separately and
not part of the figure: a few return features computed here, triple-barrier labels,
decision points every 5 minutes, XGBoost and Random Forest members only with small
settings (the full demo training with tuning and the LSTM is ``bench_models``).

Timed (``report_wall_s``): what the ``backtest_report`` asset computes after loading -
OOF checks, signals, the backtest, metrics vs SPY and QQQ, the HTML report with its five
figures and the results row - i.e. :func:`backtest_model_version` with a report path,
plus the equity PNG of the asset's metadata; at the default threshold 0.6 and at 0.45
(many more signals). ``training_wall_s`` is the small training alone. Not timed: reading the warehouse and the
MLflow calls (store-dependent).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

THREADS = int(os.environ.get("SIGNAL_PIPELINE_BENCH_THREADS", "2"))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

LOW_THRESHOLD = 0.45
SMALL_MEMBERS = {
    "xgboost": {"n_estimators": 50, "max_depth": 3, "n_jobs": THREADS},
    "random_forest": {"n_estimators": 50, "max_depth": 6, "n_jobs": THREADS},
    "cv": {"n_splits": 4, "embargo": "15min"},
}


def _features(bars):  # -> pd.DataFrame
    """Past returns over 1, 5, 15 and 30 bars and a 30-bar volatility, per symbol."""
    import numpy as np
    import pandas as pd

    frames = []
    for _, group in bars.groupby("symbol", sort=True):
        log_close = np.log(group["close"].to_numpy())
        series = pd.Series(log_close)
        frame = group[["symbol", "ts"]].copy()
        for lag in (1, 5, 15, 30):
            frame[f"ret_{lag}"] = series.diff(lag).to_numpy()
        frame["vol_30"] = series.diff().rolling(30).std().to_numpy()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def run() -> dict:
    import pandas as pd

    from benchmarks._util import peak_rss_mib, timer
    from signal_pipeline.backtest.model_backtest import backtest_model_version
    from signal_pipeline.data import simulate_market
    from signal_pipeline.data.sources import DEMO_DAYS, DEMO_SEED, DEMO_SYMBOLS
    from signal_pipeline.labels import triple_barrier_labels
    from signal_pipeline.models import train_ensemble

    market = simulate_market(DEMO_SYMBOLS, DEMO_DAYS, seed=DEMO_SEED, option_chains=False)
    bars = market.bars
    features = _features(bars)
    minutes = pd.DatetimeIndex(features["ts"]).minute
    features = features[(minutes % 5 == 0)].dropna().reset_index(drop=True)
    labels = triple_barrier_labels(bars)
    with timer() as training:
        trained = train_ensemble(
            features,
            labels,
            config=SMALL_MEMBERS,
            members=["xgboost", "random_forest"],
            progress=False,
        )
    with tempfile.TemporaryDirectory() as tmp, timer() as report:
        run = backtest_model_version(
            trained.oof,
            bars,
            market.benchmarks,
            report_path=Path(tmp) / "report.html",
            run_name="bench",
        )
        run.equity_png()
        report_bytes = run.report_path.stat().st_size
    # A lower threshold trades far more often: the signal loop is the part that grows.
    with tempfile.TemporaryDirectory() as tmp, timer() as busy:
        many = backtest_model_version(
            trained.oof,
            bars,
            market.benchmarks,
            confidence_threshold=LOW_THRESHOLD,
            report_path=Path(tmp) / "report.html",
            run_name="bench-low-threshold",
        )
        many.equity_png()
    return {
        "symbols": DEMO_SYMBOLS,
        "sessions": DEMO_DAYS,
        "bars": len(bars),
        "oof_rows": len(trained.oof),
        "signals": len(run.signals),
        "trades": int(run.metrics["trade_count"]),
        "report_wall_s": round(report(), 2),
        "report_kib": round(report_bytes / 1024, 1),
        "low_threshold": LOW_THRESHOLD,
        "low_threshold_signals": len(many.signals),
        "low_threshold_trades": int(many.metrics["trade_count"]),
        "low_threshold_report_wall_s": round(busy(), 2),
        "training_wall_s": round(training(), 1),
        "sharpe": round(float(run.metrics["sharpe"]), 3),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
