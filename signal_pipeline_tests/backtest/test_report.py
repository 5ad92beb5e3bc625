"""HTML report renders its figures and tables; the results table grows by one row per run."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest

from signal_pipeline.backtest import (
    append_results_row,
    load_benchmark_returns,
    predictions_to_signals,
    results_row,
    run_backtest,
    write_html_report,
)
from signal_pipeline.backtest.report import RESULTS_TABLE, confidence_hit_rate
from signal_pipeline.data import simulate_market
from signal_pipeline.settings import get_settings


@pytest.fixture(scope="module")
def backtest():
    market = simulate_market(["AAA", "BBB"], 3, seed=2, option_chains=False)
    signals = predictions_to_signals(market.oracle, confidence_threshold=0.6, holding_bars=15)
    result = run_backtest(market.bars, signals)
    return result, load_benchmark_returns(market_bars=market.benchmarks)


def test_report_contains_every_figure_and_the_metrics(backtest, tmp_path: Path) -> None:
    result, benchmarks = backtest
    path = write_html_report(result, tmp_path / "report.html", benchmarks, title="demo run")
    text = path.read_text()
    images = re.findall(r'<img id="fig-([a-z_]+)"[^>]*src="data:image/png;base64,([^"]+)"', text)
    assert [name for name, _ in images] == [
        "equity",
        "drawdown",
        "monthly_returns",
        "trade_returns",
        "confidence_hit_rate",
    ]
    for _, encoded in images:
        assert base64.b64decode(encoded)[:8] == b"\x89PNG\r\n\x1a\n"
    for needle in (
        "demo run",
        "sharpe",
        "max_drawdown",
        "cvar_99",
        "SPY",
        "QQQ",
        "information_ratio",
    ):
        assert needle in text
    assert "http" not in text.replace("http-equiv", "")  # self-contained: nothing fetched


def test_confidence_bins_count_every_trade(backtest) -> None:
    result, _ = backtest
    executed = result.trades[result.trades["executed"]]
    table = confidence_hit_rate(executed)
    assert table["trades"].sum() == len(executed)
    assert table["hit_rate"].between(0, 1).all()


def test_results_table_appends_one_row_per_run(backtest) -> None:
    result, benchmarks = backtest
    first = append_results_row(results_row(result, "run-a", benchmarks, model_version="1"))
    append_results_row(results_row(result, "run-b", benchmarks, model_version="2"))
    assert first == get_settings().reports_dir / RESULTS_TABLE
    table = pd.read_parquet(first)
    assert table["run_name"].tolist()[-2:] == ["run-a", "run-b"]
    assert {"sharpe", "spy_beta", "qqq_alpha", "config_holding_bars"} <= set(table.columns)


def test_benchmark_files_give_the_same_returns_as_the_frame(tmp_path: Path) -> None:
    market = simulate_market(["AAA"], 2, seed=4, option_chains=False)
    paths = {}
    for name, group in market.benchmarks.groupby("symbol"):
        paths[name] = tmp_path / f"{name}.parquet"
        group[["symbol", "ts", "open", "high", "low", "close", "volume"]].to_parquet(paths[name])
    from_files = load_benchmark_returns(paths)
    from_frame = load_benchmark_returns(market_bars=market.benchmarks)
    for name in ("SPY", "QQQ"):
        pd.testing.assert_series_equal(from_files[name], from_frame[name])
        # Day 2's return is its last close over day 1's last close.
        closes = market.benchmarks[market.benchmarks["symbol"] == name]["close"].to_numpy()
        assert from_frame[name].iloc[1] == pytest.approx(closes[779] / closes[389] - 1)
