"""Backtest of a model version on its OOF predictions: refusal of non-OOF rows, the
report, the benchmark figures, the loaders (folder, MLflow registry) and the CLI."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import empyrical
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from signal_pipeline.backtest import InSampleError
from signal_pipeline.backtest.cli_command import add_backtest_parser, run_backtest_command
from signal_pipeline.backtest.model_backtest import backtest_model_version, oof_predictions
from signal_pipeline.backtest.model_sources import (
    load_oof_from_folder,
    load_oof_from_registry,
    log_to_model_run,
)
from signal_pipeline.data.storage import Warehouse
from signal_pipeline.registry.aliases import register_version, set_alias
from signal_pipeline.registry.tracking import configure_tracking, ensure_experiment
from signal_pipeline_tests.models.synthetic import planted_market

HORIZON = 15


def foresight_oof(bars: pd.DataFrame, *, every: int = 5, skip_days: int = 1) -> pd.DataFrame:
    """An OOF-shaped frame whose calibrated probabilities know the next HORIZON bars' move
    (so a correct backtest must make money on it) and whose raw ones are the inverse."""
    frames = []
    for _, group in bars.groupby("symbol", sort=True):
        close = group["close"].to_numpy()
        forward = np.r_[close[HORIZON:] / close[:-HORIZON] - 1, np.zeros(HORIZON)]
        up = forward > 0
        frame = group[["symbol", "ts"]].copy()
        frame["fold"] = (
            pd.DatetimeIndex(frame["ts"]).tz_convert("America/New_York").normalize().factorize()[0]
        )
        frame["cal_p_buy"] = np.where(up, 0.8, 0.1)
        frame["cal_p_sell"] = np.where(up, 0.1, 0.8)
        frame["cal_p_hold"] = 0.1
        frame["p_buy"], frame["p_sell"], frame["p_hold"] = (
            frame["cal_p_sell"],
            frame["cal_p_buy"],
            0.1,
        )
        frame["label"] = np.where(up, 2, 0)
        frames.append(frame.iloc[::every])
    oof = pd.concat(frames, ignore_index=True)
    oof = oof[oof["fold"] >= skip_days]  # the first training window has no OOF rows
    oof["fold"] -= skip_days
    return oof.reset_index(drop=True)


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bars of AAA, BBB; benchmark bars of SPY, QQQ) over the same 3 sessions."""
    bars, _ = planted_market(days=3)
    benchmarks, _ = planted_market(symbols=("SPY", "QQQ"), days=3, seed=11)
    return bars, benchmarks


@pytest.fixture(scope="module")
def oof(market: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return foresight_oof(market[0])


def test_foresight_predictions_earn_and_their_inverse_loses(
    market: tuple[pd.DataFrame, pd.DataFrame], oof: pd.DataFrame
) -> None:
    bars, benchmarks = market
    good = backtest_model_version(oof, bars, benchmarks, confidence_threshold=0.6)
    bad = backtest_model_version(oof, bars, benchmarks, probabilities="raw")
    assert good.metrics["trade_count"] > 20
    assert good.metrics["total_return"] > 0 > bad.metrics["total_return"]
    assert good.metrics["win_rate"] > 0.6 > bad.metrics["win_rate"]


def test_only_the_oof_sessions_are_traded(
    market: tuple[pd.DataFrame, pd.DataFrame], oof: pd.DataFrame
) -> None:
    run = backtest_model_version(oof, market[0], market[1])
    # Day 1 (2024-01-02) has no OOF row: the backtest starts on the first OOF session.
    assert [str(d)[:10] for d in run.result.daily_returns().index] == ["2024-01-03", "2024-01-04"]
    assert run.result.trades["signal_ts"].min() >= oof["ts"].min()
    assert run.info["oof_rows"] == len(oof) and run.info["oof_folds"] == 2


def test_a_threshold_no_prediction_clears_gives_a_flat_book(
    market: tuple[pd.DataFrame, pd.DataFrame], oof: pd.DataFrame
) -> None:
    run = backtest_model_version(oof, *market, confidence_threshold=0.95)  # max p is 0.8
    assert run.signals.empty and run.metrics["trade_count"] == 0
    assert run.metrics["total_return"] == 0.0 and run.result.total_costs() == 0.0


def test_refuses_anything_but_out_of_fold_rows(oof: pd.DataFrame) -> None:
    with pytest.raises(InSampleError, match="in_sample"):
        oof_predictions(oof.assign(in_sample=oof.index < 3))
    with pytest.raises(InSampleError, match="no 'fold' column"):
        oof_predictions(oof.drop(columns="fold"))
    with pytest.raises(InSampleError, match="missing or negative fold"):
        oof_predictions(oof.assign(fold=np.where(oof.index < 2, -1, oof["fold"])))
    chosen = oof_predictions(oof).merge(oof, on=["symbol", "ts"], suffixes=("", "_given"))
    assert len(chosen) == len(oof)
    assert np.array_equal(chosen["p_buy"], chosen["cal_p_buy"])  # calibrated by default


def test_metrics_against_spy_equal_empyrical(
    market: tuple[pd.DataFrame, pd.DataFrame], oof: pd.DataFrame
) -> None:
    run = backtest_model_version(oof, market[0], market[1], holding_bars=10)
    daily = run.result.daily_returns()
    spy = run.benchmarks["SPY"].reindex(daily.index)
    assert run.metrics["beta"] == pytest.approx(empyrical.beta(daily, spy), rel=1e-9)
    assert run.metrics["sharpe"] == pytest.approx(empyrical.sharpe_ratio(daily), rel=1e-9)
    table = run.metrics_table()["value"]
    assert table["beta vs QQQ"] == pytest.approx(
        empyrical.beta(daily, run.benchmarks["QQQ"].reindex(daily.index)), rel=1e-9
    )


def test_report_is_one_self_contained_file(
    market: tuple[pd.DataFrame, pd.DataFrame], oof: pd.DataFrame, tmp_path: Path
) -> None:
    run = backtest_model_version(
        oof, market[0], market[1], report_path=tmp_path / "r.html", info={"version": "7"}
    )
    text = run.report_path.read_text()
    assert text.count("data:image/png;base64,") >= 5
    # No external resources: every src is inline data, no stylesheet or script links.
    assert all(s.startswith("data:") for s in re.findall(r'src="([^"]*)"', text))
    assert "<link" not in text and "<script" not in text
    assert run.row["version"] == "7" and "qqq_alpha" in run.row and "spy_beta" in run.row
    assert run.equity_png().startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One MLflow store for this module (creating one takes seconds)."""
    previous = mlflow.get_tracking_uri()
    uri = configure_tracking(f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}")
    yield uri
    mlflow.set_tracking_uri(previous)
    mlflow.set_registry_uri(previous)


def register_oof(oof: pd.DataFrame, folder: Path) -> tuple[str, str]:
    """A training-like MLflow run holding oof.parquet, registered as a new version with
    the alias challenger; returns (version, run id)."""
    client = MlflowClient()
    run_id = client.create_run(ensure_experiment()).info.run_id
    folder.mkdir(parents=True, exist_ok=True)
    oof.to_parquet(folder / "oof.parquet", index=False)
    client.log_artifact(run_id, str(folder / "oof.parquet"))
    version = register_version(f"runs:/{run_id}/oof.parquet", {"kind": "test"}, run_id=run_id)
    set_alias(version.version, "challenger", "test version")
    return str(version.version), run_id


@pytest.mark.slow  # creating the MLflow SQLite store takes a few seconds
def test_registry_loader_and_report_artifact(
    tracking: str,
    market: tuple[pd.DataFrame, pd.DataFrame],
    oof: pd.DataFrame,
    tmp_path: Path,
) -> None:
    version, run_id = register_oof(oof, tmp_path / "upload")
    found = load_oof_from_registry("challenger")
    assert (found.version, found.run_id) == (version, run_id)
    assert found.label == f"signal-ensemble-v{version}"
    pd.testing.assert_frame_equal(found.oof, oof)
    run = backtest_model_version(found.oof, *market, report_path=tmp_path / "v1.html")
    log_to_model_run(run_id, run)
    client = MlflowClient()
    assert [a.path for a in client.list_artifacts(run_id, "backtest")] == ["backtest/v1.html"]
    logged = client.get_run(run_id).data.metrics
    assert logged["backtest_sharpe"] == pytest.approx(run.metrics["sharpe"])
    assert "backtest_alpha_vs_QQQ" in logged


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_backtest_parser(parser.add_subparsers())
    return run_backtest_command(parser.parse_args(["backtest", *argv]))


@pytest.mark.slow
def test_cli_backtests_a_registered_alias_and_logs_the_report(
    tracking: str,
    market: tuple[pd.DataFrame, pd.DataFrame],
    oof: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    version, run_id = register_oof(oof, tmp_path / "upload")
    monkeypatch.setenv("SIGNAL_PIPELINE_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("SIGNAL_PIPELINE_REPORTS", str(tmp_path / "reports"))
    assert _cli("--alias", "challenger", "--tracking-uri", tracking) == 2  # no warehouse yet
    assert "raw_bars" in capsys.readouterr().err
    store = Warehouse(tmp_path / "warehouse")
    store.write_partitioned("raw_bars", market[0])
    store.write_partitioned("benchmark_bars", market[1])
    assert _cli("--alias", "challenger", "--tracking-uri", tracking) == 0
    report = tmp_path / "reports" / f"backtest-signal-ensemble-v{version}.html"
    assert f"report:        {report}" in capsys.readouterr().out
    logged = [a.path for a in MlflowClient().list_artifacts(run_id, "backtest")]
    assert logged == [f"backtest/{report.name}"]


@pytest.mark.slow
def test_cli_backtests_a_saved_trained_ensemble(
    market: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from signal_pipeline.labels import triple_barrier_labels
    from signal_pipeline.models import train_ensemble
    from signal_pipeline_tests.models.conftest import FAST_CONFIG

    bars, benchmarks = market
    _, features = planted_market(days=3)
    trained = train_ensemble(
        features,
        triple_barrier_labels(bars),
        config={**FAST_CONFIG, "cv": {"n_splits": 3, "embargo": "15min"}},
        progress=False,
    )
    folder = trained.save(tmp_path / "ensemble")
    assert len(load_oof_from_folder(folder).oof) == len(trained.oof)
    store = Warehouse(tmp_path / "warehouse")
    store.write_partitioned("raw_bars", bars)
    store.write_partitioned("benchmark_bars", benchmarks)
    monkeypatch.setenv("SIGNAL_PIPELINE_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("SIGNAL_PIPELINE_REPORTS", str(tmp_path / "reports"))
    report = tmp_path / "cli.html"
    assert _cli("--model-dir", str(folder), "--threshold", "0.4", "--report", str(report)) == 0
    out = capsys.readouterr().out
    assert "sharpe" in out and "beta vs QQQ" in out and str(report) in out
    assert report.is_file()
    table = pd.read_parquet(tmp_path / "reports" / "backtest_results.parquet")
    assert table["source"].tolist() == [str(folder)]
    assert table["probabilities"].tolist() == ["calibrated"]
    assert table["oof_rows"].tolist() == [len(trained.oof)]
