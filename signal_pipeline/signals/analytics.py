"""Signal analytics: hit rate and return by slice, calibration, and their plots.

The SQL lives in ``sql/queries/*.sql`` (portable; the ``signal_results`` view supplies
the dialect-specific bucket and day columns) and runs here through the store. Only
signals with a tracked outcome count. ``hit_rate`` is over BUY/SELL signals only.
"""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: plots are rendered to PNG bytes, never shown

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from signal_pipeline.signals.migrations import SQL_DIR
from signal_pipeline.signals.store import SignalStore

QUERIES_DIR = SQL_DIR / "queries"

#: Report name -> query file stem in ``sql/queries/``.
REPORTS = {
    "by_confidence": "hit_rate_by_confidence_bucket",
    "by_symbol": "hit_rate_by_symbol",
    "by_model_version": "hit_rate_by_model_version",
    "by_signal_type": "hit_rate_by_signal_type",
    "over_time": "hit_rate_over_time",
    "calibration": "calibration",
}


class UnknownQueryError(KeyError):
    """No such analytic query file."""

    def __str__(self) -> str:
        return str(self.args[0])


def query_path(name: str, queries_dir: Path = QUERIES_DIR) -> Path:
    path = queries_dir / f"{name}.sql"
    if not path.is_file():
        known = sorted(p.stem for p in queries_dir.glob("*.sql"))
        raise UnknownQueryError(f"no analytic query {name!r} in {queries_dir}; known: {known}")
    return path


def run_query(store: SignalStore, name: str) -> pd.DataFrame:
    """Run ``sql/queries/<name>.sql``; numeric columns come back as float."""
    sql = query_path(name).read_text(encoding="utf-8").strip().rstrip(";")
    with store.transaction(write=False) as tx:
        columns, rows = tx.dialect.execute_columns(tx.conn, sql)
    frame = pd.DataFrame(rows, columns=columns)
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, Decimal)).any():
            frame[column] = frame[column].astype(float)
    return frame


def signal_analytics(store: SignalStore) -> dict[str, pd.DataFrame]:
    """Every report of :data:`REPORTS`, by report name."""
    return {report: run_query(store, stem) for report, stem in REPORTS.items()}


def expected_calibration_error(calibration: pd.DataFrame) -> float:
    """ECE = sum_b n_b |mean_confidence_b - hit_rate_b| / sum_b n_b (NaN without data)."""
    if calibration.empty or calibration["n_signals"].sum() == 0:
        return float("nan")
    n = calibration["n_signals"].to_numpy(float)
    gap = np.abs(
        calibration["mean_confidence"].to_numpy(float) - calibration["hit_rate"].to_numpy(float)
    )
    return float((n * gap).sum() / n.sum())


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def plot_calibration(calibration: pd.DataFrame) -> bytes:
    """Reliability diagram of live signals: stated confidence against realised hit rate."""
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    if not calibration.empty:
        ax.plot(
            calibration["mean_confidence"], calibration["hit_rate"], marker="o", label="signals"
        )
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean confidence", ylabel="hit rate")
    ax.set_title("Calibration of live signals")
    ax.legend(loc="upper left")
    return _png(fig)


def plot_over_time(over_time: pd.DataFrame) -> bytes:
    """Daily hit rate and average direction-signed return."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    if not over_time.empty:
        days = pd.to_datetime(over_time["day"])
        top.plot(days, over_time["hit_rate"], marker="o")
        bottom.bar(days, over_time["avg_return"] * 100.0)
    top.axhline(0.5, linestyle="--", color="grey")
    top.set_ylabel("hit rate")
    bottom.set_ylabel("avg return (%)")
    top.set_title("Signal performance over time")
    fig.autofmt_xdate()
    return _png(fig)
