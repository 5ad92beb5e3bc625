"""Self-contained HTML backtest report and the results table that compares runs.

The report is one HTML file with every figure embedded as a base64 PNG (matplotlib
``Figure`` objects rendered by Agg without pyplot, so no global backend or figure state;
no network or external files): equity against the benchmarks, drawdown,
monthly-returns heatmap, trade-return distribution, signal confidence against realised
hit rate, and the metrics table. ``append_results_row`` adds one row per run to a
Parquet table under ``get_settings().reports_dir`` (written to a temporary name, then
renamed, so a killed run leaves the old table intact).
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from signal_pipeline.backtest.benchmark import compare_to_benchmarks
from signal_pipeline.backtest.result import BacktestResult
from signal_pipeline.backtest.risk import drawdown_series

RESULTS_TABLE = "backtest_results.parquet"
FIGURE_TITLES = {
    "equity": "Equity vs benchmarks",
    "drawdown": "Drawdown",
    "monthly_returns": "Monthly returns",
    "trade_returns": "Trade-return distribution",
    "confidence_hit_rate": "Signal confidence vs realised hit rate",
}


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _equity_figure(returns: pd.Series, benchmarks: Mapping[str, pd.Series]) -> Figure:
    fig = Figure(figsize=(9, 3.6))
    ax = fig.subplots()
    ax.plot(returns.index, (1 + returns.fillna(0)).cumprod(), label="strategy", lw=1.6)
    for name, series in benchmarks.items():
        aligned = series.reindex(returns.index).fillna(0)
        ax.plot(aligned.index, (1 + aligned).cumprod(), label=name, lw=1.0)
    ax.set_ylabel("growth of 1")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return fig


def _drawdown_figure(returns: pd.Series) -> Figure:
    fig = Figure(figsize=(9, 2.6))
    ax = fig.subplots()
    drawdown = drawdown_series(returns.to_numpy())
    ax.fill_between(returns.index, drawdown, 0.0, color="tab:red", alpha=0.4)
    ax.set_ylabel("drawdown")
    ax.grid(alpha=0.3)
    return fig


def monthly_returns_table(returns: pd.Series) -> pd.DataFrame:
    """Compounded return per (year, month): rows years, columns months 1..12."""
    index = pd.DatetimeIndex(returns.index)
    grouped = (1 + returns.fillna(0)).groupby([index.year, index.month]).prod() - 1
    grouped.index.names = ["year", "month"]
    return grouped.unstack("month").reindex(columns=range(1, 13))


def _monthly_figure(returns: pd.Series) -> Figure:
    table = monthly_returns_table(returns)
    fig = Figure(figsize=(9, 0.6 + 0.5 * len(table)))
    ax = fig.subplots()
    values = table.to_numpy(dtype=float)
    bound = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1.0
    image = ax.imshow(values, cmap="RdYlGn", vmin=-bound, vmax=bound, aspect="auto")
    ax.set_xticks(range(12), [str(m) for m in range(1, 13)])
    ax.set_yticks(range(len(table)), [str(y) for y in table.index])
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.1%}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, fraction=0.02)
    return fig


def _trade_figure(trades: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    values = trades["return"].to_numpy(dtype=float) if "return" in trades else np.empty(0)
    values = values[np.isfinite(values)]
    if values.size:
        ax.hist(values, bins=min(50, max(5, values.size // 5)), color="tab:blue", alpha=0.7)
        ax.axvline(0.0, color="black", lw=0.8)
    else:
        ax.text(0.5, 0.5, "no trades", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("trade return (after costs)")
    ax.set_ylabel("trades")
    return fig


def confidence_hit_rate(trades: pd.DataFrame, bins: int = 5) -> pd.DataFrame:
    """Hit rate (share of trades with return > 0) per confidence bin, with counts."""
    if "confidence" not in trades.columns or trades.empty:
        return pd.DataFrame(columns=["confidence", "hit_rate", "trades"])
    frame = trades[["confidence", "return"]].dropna()
    edges = np.linspace(frame["confidence"].min(), frame["confidence"].max() + 1e-12, bins + 1)
    grouped = frame.groupby(pd.cut(frame["confidence"], edges, include_lowest=True), observed=True)
    return pd.DataFrame(
        {
            "confidence": grouped["confidence"].mean(),
            "hit_rate": grouped["return"].apply(lambda r: float((r > 0).mean())),
            "trades": grouped.size(),
        }
    ).reset_index(drop=True)


def _confidence_figure(trades: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    table = confidence_hit_rate(trades)
    if len(table):
        ax.plot(table["confidence"], table["hit_rate"], marker="o", label="realised hit rate")
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="hit rate = confidence")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="best")
    else:
        ax.text(
            0.5, 0.5, "no confidence in trades", ha="center", va="center", transform=ax.transAxes
        )
    ax.set_xlabel("signal confidence")
    ax.set_ylabel("hit rate")
    return fig


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return html.escape(str(value))


def _table(rows: Mapping[str, Mapping[str, Any]] | pd.DataFrame) -> str:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr><th>"
        + html.escape(str(i))
        + "</th>"
        + "".join(f"<td>{_format(v)}</td>" for v in row)
        + "</tr>"
        for i, row in zip(frame.index, frame.itertuples(index=False), strict=True)
    )
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html_report(
    result: BacktestResult,
    benchmarks: Mapping[str, pd.Series] | None = None,
    *,
    title: str = "Backtest report",
    metadata: Mapping[str, Any] | None = None,
) -> str:
    """The report as one HTML string (see module docstring)."""
    benchmarks = dict(benchmarks or {})
    returns = result.daily_returns()
    returns.index = pd.DatetimeIndex(returns.index)
    benchmarks = {k: v.set_axis(pd.DatetimeIndex(v.index)) for k, v in benchmarks.items()}
    trades = result.trades
    if "executed" in trades.columns:
        trades = trades[trades["executed"]]
    metrics = result.metrics()
    figures = {
        "equity": _png(_equity_figure(returns, benchmarks)),
        "drawdown": _png(_drawdown_figure(returns)),
        "monthly_returns": _png(_monthly_figure(returns)),
        "trade_returns": _png(_trade_figure(trades)),
        "confidence_hit_rate": _png(_confidence_figure(trades)),
    }
    sections = [f"<h1>{html.escape(title)}</h1>"]
    if metadata:
        sections.append(_table(pd.DataFrame({"value": dict(metadata)})))
    sections.append("<h2>Metrics</h2>")
    sections.append(_table(pd.DataFrame({"strategy": metrics})))
    if benchmarks:
        sections.append("<h2>Benchmark comparison</h2>")
        sections.append(_table(compare_to_benchmarks(returns, benchmarks)))
    for key, encoded in figures.items():
        sections.append(
            f'<h2>{FIGURE_TITLES[key]}</h2><img id="fig-{key}" alt="{FIGURE_TITLES[key]}" '
            f'src="data:image/png;base64,{encoded}">'
        )
    style = (
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
        "table{border-collapse:collapse;font-size:0.9em}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>"
    )


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def write_html_report(
    result: BacktestResult,
    path: str | Path,
    benchmarks: Mapping[str, pd.Series] | None = None,
    **options: Any,
) -> Path:
    """Render the report and write it atomically to ``path``; returns the path."""
    path = Path(path)
    _atomic_write(path, render_html_report(result, benchmarks, **options).encode("utf-8"))
    return path


def results_row(
    result: BacktestResult,
    run_name: str,
    benchmarks: Mapping[str, pd.Series] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One flat row of a run for the results table: names, config and metrics."""
    row: dict[str, Any] = {
        "run_name": run_name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }
    row.update(result.metrics())
    for name, series in (benchmarks or {}).items():
        block = compare_to_benchmarks(
            result.daily_returns().set_axis(pd.DatetimeIndex(result.daily_returns().index)),
            {name: series.set_axis(pd.DatetimeIndex(series.index))},
        ).iloc[0]
        row.update({f"{name.lower()}_{k}": float(v) for k, v in block.items()})
    row.update({f"config_{k}": v for k, v in result.config.items()})
    return row


def append_results_row(row: Mapping[str, Any], path: str | Path | None = None) -> Path:
    """Append ``row`` to the results table (Parquet; new columns are added as needed)."""
    if path is None:
        from signal_pipeline.settings import get_settings

        path = get_settings().reports_dir / RESULTS_TABLE
    path = Path(path)
    new = pd.DataFrame([dict(row)])
    table = pd.concat([pd.read_parquet(path), new], ignore_index=True) if path.exists() else new
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    _atomic_write(path, buffer.getvalue())
    return path
