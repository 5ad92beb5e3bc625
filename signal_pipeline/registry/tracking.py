"""MLflow experiment tracking of training and tuning runs.

Where: ``MLFLOW_TRACKING_URI`` when set, else the embedded default of
``signal_pipeline.settings`` (``sqlite:///$SIGNAL_PIPELINE_HOME/mlflow.db``, artifacts under
``$SIGNAL_PIPELINE_HOME/mlartifacts``). Experiment: ``signal-ensemble``.

A training run holds:

- **params**: the flattened model configuration (``xgboost.max_depth``, ``cv.n_splits``,
  ``ensemble.weights``, ...) with the tuned values, as trained;
- **metrics**: OOF accuracy / log loss / ECE of the ensemble and of each member, the
  held-out calibration figures, the baselines, the oracle gap when known, the
  shuffled-label alarm, and **per-fold** metrics (``fold_log_loss`` etc. with
  ``step = fold``);
- **artifacts**: ``metrics.json``, ``feature_names.json``, ``oof.parquet``,
  ``plots/reliability_oof.png`` (uncalibrated OOF) and
  ``plots/reliability_oof_calibrated.png`` (calibrated, in-sample), ``tuning.json``,
  and (:func:`log_importance`) ``importance/importance.{parquet,csv,png}``;
- **tags** (:class:`TrainingTags`): ``dagster_run_id``, ``training_data_hash``,
  ``feature_spec_hash``, ``code_version`` (the git commit when the code runs from a
  checkout, ``+dirty`` with uncommitted changes, else the package version).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.models.evaluation import classification_metrics, reliability_plot
from signal_pipeline.models.trained import PROBA_COLUMNS, TrainedEnsemble
from signal_pipeline.settings import get_settings

EXPERIMENT_NAME = "signal-ensemble"
_PARAM_VALUE_LIMIT = 500  # MLflow rejects longer parameter values


@dataclass(frozen=True)
class TrainingTags:
    """The lineage tags on every training run and model version."""

    dagster_run_id: str
    training_data_hash: str
    feature_spec_hash: str
    code_version: str

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def configure_tracking(tracking_uri: str | None = None) -> str:
    """Point MLflow at ``tracking_uri`` (default: the settings') and return it."""
    import mlflow

    uri = tracking_uri or get_settings().mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def _is_local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:", "/")) or "://" not in uri


def ensure_experiment(name: str = EXPERIMENT_NAME, artifact_root: str | Path | None = None) -> str:
    """The id of experiment ``name``, created if missing.

    With a local store (SQLite/file) the artifacts go to ``artifact_root`` (default
    ``settings.mlflow_artifact_root``) rather than ``./mlruns`` of whatever folder the
    process started in; with a tracking server, the server decides.
    """
    import mlflow

    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = None
    if _is_local_store(mlflow.get_tracking_uri()):
        root = Path(artifact_root or get_settings().mlflow_artifact_root)
        location = (root / name).resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


@lru_cache(maxsize=1)
def code_version() -> str:
    """Git commit of the checkout this code runs from (``+dirty`` if modified), else the
    installed package version."""
    repo = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()  # fmt: skip
        return f"{sha}+dirty" if dirty else sha
    except (OSError, subprocess.SubprocessError):
        try:
            return metadata.version("signal-pipeline")
        except metadata.PackageNotFoundError:
            return "unknown"


def run_link(run_id: str, experiment_id: str | None = None) -> str:
    """A browser link to the run: ``MLFLOW_UI_URL`` (default the ``mlflow ui`` address,
    http://127.0.0.1:5000) when tracking is local, the tracking server otherwise."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    base = (
        uri if uri.startswith("http") else os.environ.get("MLFLOW_UI_URL", "http://127.0.0.1:5000")
    )
    if experiment_id is None:
        experiment_id = mlflow.get_run(run_id).info.experiment_id
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config → ``{"section.key": "value"}`` (MLflow params are flat strings)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        else:
            text = json.dumps(value, default=str) if not isinstance(value, str) else value
            flat[name] = text[:_PARAM_VALUE_LIMIT]
    return flat


def _finite_metrics(values: Mapping[str, Any], prefix: str) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        numeric = isinstance(value, int | float | np.number) and not isinstance(value, bool)
        if isinstance(value, bool) or (numeric and np.isfinite(value)):
            out[f"{prefix}{key}"] = float(value)
    return out


def summary_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The scalar figures of ``TrainedEnsemble.metrics`` as flat MLflow metric names."""
    out = _finite_metrics(metrics["ensemble"], "oof_")
    out.update(
        _finite_metrics(metrics.get("ensemble_calibrated_in_sample", {}), "oof_cal_in_sample_")
    )
    for name, values in metrics.get("members", {}).items():
        out.update(_finite_metrics(values, f"{name}_oof_"))
    for name, values in metrics.get("baselines", {}).items():
        out.update(_finite_metrics(values, f"baseline_{name}_"))
    for section in ("calibration_holdout", "oracle", "shuffled_label_alarm"):
        if metrics.get(section):
            out.update(_finite_metrics(metrics[section], f"{section}_"))
    out.update(
        _finite_metrics({"n_rows": metrics.get("n_rows"), "n_oof": metrics.get("n_oof")}, "")
    )
    return out


def fold_metrics(oof: pd.DataFrame, members: list[str]) -> list[tuple[str, float, int]]:
    """(name, value, step=fold) per fold: the ensemble's and each member's OOF figures."""
    rows: list[tuple[str, float, int]] = []
    for fold, part in oof.groupby("fold", sort=True):
        y = part["label"].to_numpy()
        sources = {"": list(PROBA_COLUMNS)}
        sources.update({f"{m}_": [f"{m}_{c}" for c in PROBA_COLUMNS] for m in members})
        for prefix, columns in sources.items():
            if not set(columns) <= set(part.columns):
                continue
            m = classification_metrics(part[columns].to_numpy(), y)
            for key in ("log_loss", "accuracy", "ece", "balanced_accuracy"):
                rows.append((f"{prefix}fold_{key}", float(m[key]), int(fold)))
    return rows


def _log_metrics(client: Any, run_id: str, values: Mapping[str, float], step: int = 0) -> None:
    from mlflow.entities import Metric

    now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
    batch = [Metric(k, float(v), now, step) for k, v in values.items()]
    for i in range(0, len(batch), 900):  # log_batch takes at most 1000 metrics
        client.log_batch(run_id, metrics=batch[i : i + 900])


def start_run(
    tags: TrainingTags, *, run_name: str, kind: str, experiment: str = EXPERIMENT_NAME
) -> str:
    """Create a run in ``experiment`` with the lineage tags; returns its id."""
    from mlflow import MlflowClient

    experiment_id = ensure_experiment(experiment)
    run = MlflowClient().create_run(
        experiment_id, run_name=run_name, tags={**tags.as_dict(), "signal_pipeline.kind": kind}
    )
    return run.info.run_id


def log_training_run(
    trained: TrainedEnsemble,
    tags: TrainingTags,
    *,
    tuning: Mapping[str, Mapping[str, Any]] | None = None,
    run_id: str | None = None,
    run_name: str = "train-ensemble",
    experiment: str = EXPERIMENT_NAME,
) -> str:
    """Log one training run (params, summary and per-fold metrics, reliability plot, OOF
    frame, tuning summaries, tags); returns the run id (a new run unless ``run_id``)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    run_id = run_id or start_run(tags, run_name=run_name, kind="training", experiment=experiment)
    members = list(trained.ensemble.members)
    params = flatten_params(
        {
            "members": ",".join(members),
            **{m: trained.config.get(m, {}) for m in members},
            "ensemble": trained.config.get("ensemble", {}),
            "cv": trained.config.get("cv", {}),
            "labels": trained.config.get("labels", {}),
            "training": {
                k: v for k, v in trained.config.get("training", {}).items() if k != "overrides"
            },
            "n_features": len(trained.feature_names),
        }
    )
    from mlflow.entities import Param, RunTag

    items = [Param(k, v) for k, v in params.items()]
    for i in range(0, len(items), 90):
        client.log_batch(run_id, params=items[i : i + 90])
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.as_dict().items()])
    _log_metrics(client, run_id, summary_metrics(trained.metrics))
    from mlflow.entities import Metric

    now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
    per_fold = [Metric(n, v, now, s) for n, v, s in fold_metrics(trained.oof, members)]
    for i in range(0, len(per_fold), 900):
        client.log_batch(run_id, metrics=per_fold[i : i + 900])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "metrics.json").write_text(json.dumps(trained.metrics, indent=2, default=_plain))
        (folder / "feature_names.json").write_text(json.dumps(trained.feature_names))
        trained.oof.to_parquet(folder / "oof.parquet", index=False)
        plots = folder / "plots"
        plots.mkdir()
        y = trained.oof["label"].to_numpy()
        (plots / "reliability_oof.png").write_bytes(
            reliability_plot(
                trained.oof[list(PROBA_COLUMNS)].to_numpy(), y, title="OOF, uncalibrated"
            )
        )
        calibrated = [f"cal_{c}" for c in PROBA_COLUMNS]
        (plots / "reliability_oof_calibrated.png").write_bytes(
            reliability_plot(
                trained.oof[calibrated].to_numpy(), y, title="OOF, calibrated (in-sample)"
            )
        )
        if tuning:
            (folder / "tuning.json").write_text(json.dumps(dict(tuning), indent=2, default=_plain))
        client.log_artifacts(run_id, str(folder))
    return run_id


def log_importance(run_id: str, table: pd.DataFrame, plot_png: bytes | None) -> None:
    """Importance table (Parquet + CSV) and plot under ``importance/`` of the run."""
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "importance"
        folder.mkdir()
        table.to_parquet(folder / "importance.parquet", index=False)
        table.to_csv(folder / "importance.csv", index=False)
        if plot_png is not None:
            (folder / "importance.png").write_bytes(plot_png)
        MlflowClient().log_artifacts(run_id, str(folder), artifact_path="importance")


def log_tuning_run(
    result: Mapping[str, Any],
    tags: TrainingTags,
    *,
    trials: pd.DataFrame | None = None,
    experiment: str = EXPERIMENT_NAME,
) -> str:
    """One run per tuned member: best params, default vs tuned OOF log loss, trials."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient()
    member = result["member"]
    run_id = start_run(tags, run_name=f"tune-{member}", kind="tuning", experiment=experiment)
    params = flatten_params(
        {"member": member, "best": result["best_params"], "study": result["study_name"]}
    )
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    _log_metrics(
        client,
        run_id,
        {
            k: result[k]
            for k in (
                "default_log_loss",
                "tuned_log_loss",
                "improvement",
                "n_trials",
                "n_pruned",
                "seconds",
            )
        },
    )
    if trials is not None and not trials.empty:
        now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)
        values = [
            Metric("trial_log_loss", float(v), now, int(n))
            for n, v in zip(trials["number"], trials["value"], strict=True)
            if pd.notna(v)
        ]
        if values:
            client.log_batch(run_id, metrics=values)
    client.log_dict(run_id, dict(result), "tuning.json")
    client.set_terminated(run_id)
    return run_id


def finish_run(run_id: str, status: str = "FINISHED") -> None:
    from mlflow import MlflowClient

    MlflowClient().set_terminated(run_id, status=status)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)
