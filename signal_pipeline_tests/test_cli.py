"""The `signal-pipeline` command, called in-process through its `main`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from signal_pipeline.cli import main
from signal_pipeline.data.storage import Warehouse


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIGNAL_PIPELINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    return tmp_path / "home"


def _yahoo(path: Path, high_bump: float = 1.0) -> None:
    days = pd.bdate_range("2024-02-01", periods=4)
    close = pd.Series([10.0, 10.5, 10.2, 10.8])
    pd.DataFrame(
        {
            "Date": days.strftime("%Y-%m-%d"),
            "Open": close,
            "High": close + high_bump,
            "Low": close - 0.5,
            "Close": close,
            "Adj Close": close,
            "Volume": 1000,
        }
    ).to_csv(path, index=False)


def test_ingest_stores_a_yahoo_csv(home: Path, tmp_path: Path, capsys) -> None:
    _yahoo(tmp_path / "ABC.csv")
    assert main(["ingest", str(tmp_path / "ABC.csv")]) == 0
    assert "ingested 4 rows (1 symbols, 4 session dates)" in capsys.readouterr().out
    bars = Warehouse(home / "warehouse").read("raw_bars")
    assert bars["symbol"].unique().tolist() == ["ABC"] and len(bars) == 4


def test_ingest_refuses_a_bad_file_and_names_the_rule(home: Path, tmp_path: Path, capsys) -> None:
    _yahoo(tmp_path / "BAD.csv", high_bump=-2.0)  # high below the close: invalid bars
    assert main(["ingest", str(tmp_path / "BAD.csv")]) == 2
    err = capsys.readouterr().err
    assert "BAD.csv" in err and "high" in err
    assert not (home / "warehouse" / "raw_bars").exists()


def test_ingest_with_quarantine_keeps_the_bad_rows(home: Path, tmp_path: Path, capsys) -> None:
    _yahoo(tmp_path / "BAD.csv", high_bump=-2.0)
    assert main(["ingest", str(tmp_path / "BAD.csv"), "--quarantine"]) == 0
    assert "quarantined 4 rows" in capsys.readouterr().out
    assert len(Warehouse(home / "warehouse").read("quarantine_raw_bars")) == 4


def test_help_lists_the_subcommands(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "ingest", "init-home", "query", "db"):
        assert command in out


@pytest.mark.slow
def test_demo_materialises_the_pipeline_and_says_where_to_look(home: Path, capsys) -> None:
    assert main(["demo", "--symbols", "2", "--days", "12"]) == 0
    captured = capsys.readouterr()
    assert "Where to look" in captured.out and "make ui" in captured.out
    warehouse = Warehouse(home / "warehouse")
    assert {"raw_bars", "option_chains", "benchmark_bars", "feature_table", "training_set"} <= set(
        warehouse.tables()
    )
    assert len(warehouse.read("raw_bars")) == 2 * 12 * 390
    assert len(warehouse.read("feature_table")) == 2 * 12 * 390
    # a model version was registered and backtested on its out-of-fold predictions
    assert list((home / "reports").glob("backtest-signal-ensemble-v1.html"))
    # on so little data the promotion gates may refuse the first version: the demo says
    # so and skips the signal stage, or it promotes it and stores one signal per symbol
    if "skipped, no model version holds the 'champion' alias" in captured.err:
        assert "challenger not promoted" in captured.err
    else:
        assert "Champion: signal-ensemble version 1" in captured.out
        assert (home / "signals.db").exists()
    # the runs are recorded on the instance the UI reads
    assert (home / "dagster" / "dagster.yaml").exists()
    assert any((home / "dagster").rglob("*.db"))


def test_db_upgrade_is_idempotent(home: Path, capsys) -> None:
    url = f"sqlite:///{home / 'signals.db'}"
    home.mkdir(parents=True, exist_ok=True)
    assert main(["db", "upgrade", "--url", url]) == 0
    assert "applied versions [1, 2, 3]" in capsys.readouterr().out
    assert main(["db", "upgrade", "--url", url]) == 0
    assert "already up to date (version 3)" in capsys.readouterr().out


def test_db_upgrade_reports_an_unreachable_database(capsys) -> None:
    assert main(["db", "upgrade", "--url", "postgresql://nobody@127.0.0.1:1/none"]) == 2
    assert "db upgrade failed" in capsys.readouterr().err
