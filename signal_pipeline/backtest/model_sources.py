"""Where a model version's out-of-fold predictions live, and where its backtest goes.

- a saved ``TrainedEnsemble`` folder: its ``oof.parquet``;
- a registered version of ``signal-ensemble`` (number or alias): the ``oof.parquet``
  artifact of the version's MLflow training run (``log_training_run`` logs it);
- the bars: ``raw_bars`` and ``benchmark_bars`` of the warehouse, over the OOF span;
- the report: artifact ``backtest/<file>`` of the version's run, with the headline
  figures as metrics ``backtest_*``.

MLflow is imported only by the functions that need it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.backtest.errors import BacktestInputError
from signal_pipeline.backtest.model_backtest import ModelBacktest

OOF_FILE = "oof.parquet"  # the name TrainedEnsemble.save and log_training_run use
REPORT_ARTIFACT_DIR = "backtest"


@dataclass(frozen=True)
class ModelVersionOOF:
    """A model version's OOF frame and where it came from."""

    oof: pd.DataFrame
    source: str  # the folder, or the models:/ reference
    model_name: str | None = None
    version: str | None = None
    run_id: str | None = None

    @property
    def label(self) -> str:
        """A short, file-name-safe name: ``signal-ensemble-v3`` or the folder's name."""
        if self.version is not None:
            return f"{self.model_name}-v{self.version}"
        return Path(self.source).name or "model"


def load_oof_from_folder(folder: str | Path) -> ModelVersionOOF:
    """The OOF frame of a saved ``TrainedEnsemble`` folder (its ``oof.parquet``)."""
    path = Path(folder)
    file = path / OOF_FILE
    if not file.is_file():
        raise BacktestInputError(
            f"{file} not found: {path} is not a saved TrainedEnsemble folder "
            "(TrainedEnsemble.save writes oof.parquet there)"
        )
    return ModelVersionOOF(pd.read_parquet(file), source=str(path))


def load_oof_from_registry(ref: str | int, *, model_name: str | None = None) -> ModelVersionOOF:
    """The OOF frame of a registered model version: ``ref`` is a version number or an
    alias (``champion``); the frame is the ``oof.parquet`` artifact of the version's
    MLflow training run. Uses the current MLflow tracking/registry URI."""
    import mlflow

    from signal_pipeline.registry.aliases import MODEL_NAME
    from signal_pipeline.registry.lineage import resolve_version

    name = model_name or MODEL_NAME
    version = resolve_version(ref, name=name)
    if not version.run_id:
        raise BacktestInputError(
            f"{name} version {version.version} has no MLflow run: register versions with "
            "run_id= (registered_model does) so their OOF predictions can be found"
        )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=version.run_id, artifact_path=OOF_FILE, dst_path=tmp
            )
        except Exception as exc:  # MLflow raises several types for a missing artifact
            raise BacktestInputError(
                f"run {version.run_id} of {name} version {version.version} has no "
                f"{OOF_FILE} artifact ({exc}): it must be a training run logged by "
                "log_training_run"
            ) from exc
        oof = pd.read_parquet(local)
    return ModelVersionOOF(
        oof,
        source=f"models:/{name}/{version.version}",
        model_name=name,
        version=str(version.version),
        run_id=version.run_id,
    )


def log_to_model_run(run_id: str, backtest: ModelBacktest, prefix: str = "backtest_") -> None:
    """The HTML report as artifact ``backtest/<file>`` of run ``run_id``, and the headline
    figures as metrics ``backtest_<name>`` (finite values only)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient()
    if backtest.report_path is not None:
        client.log_artifact(run_id, str(backtest.report_path), REPORT_ARTIFACT_DIR)
    now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
    values = backtest.metrics_table()["value"]
    metrics = [
        Metric(prefix + name.replace(" vs ", "_vs_").replace(" ", "_"), float(v), now, 0)
        for name, v in values.items()
        if np.isfinite(v)
    ]
    if metrics:
        client.log_batch(run_id, metrics=metrics)


def read_warehouse_bars(store: Any, oof: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``raw_bars`` of the OOF frame's symbols and ``benchmark_bars`` over the OOF span,
    from a :class:`~signal_pipeline.data.storage.Warehouse` (only that span is read)."""
    for table in ("raw_bars", "benchmark_bars"):
        if table not in store.tables():
            raise BacktestInputError(
                f"warehouse table {table!r} not found in {store.root}: ingest bars "
                "(SPY and QQQ into benchmark_bars) or run `signal-pipeline demo` first"
            )
    stamps = pd.to_datetime(oof["ts"], utc=True)
    span = {"start": stamps.min().floor("D"), "end": stamps.max().floor("D") + pd.Timedelta("1D")}
    symbols = sorted(oof["symbol"].astype(str).unique())
    return store.read("raw_bars", symbols=symbols, **span), store.read("benchmark_bars", **span)
