"""Trained models: training set → tuned members → ensemble → evaluation → registry.

Each asset loads its inputs, calls the core (``signal_pipeline.models`` /
``signal_pipeline.registry``), writes its output and returns metadata. Artefacts:

- ``training_set``: warehouse table ``training_set`` (sampled, labelled decision points);
- ``<member>_model``: the Optuna result, ``$SIGNAL_PIPELINE_HOME/models/tuning/<member>.json``
  (best params, default vs tuned OOF log loss), plus an MLflow run ``tune-<member>``;
- ``ensemble_model``: the ``TrainedEnsemble`` folder
  ``$SIGNAL_PIPELINE_HOME/models/<dagster run id>/ensemble`` and the MLflow training run;
- ``model_evaluation``: importance table + plot beside the ensemble and in the MLflow run;
- ``registered_model``: the pyfunc model logged in that run, registered as a new version
  of ``signal-ensemble`` with the alias ``challenger`` (the promotion to ``champion`` is
  the blocking check in checks.py).

Downstream assets find the upstream artefacts through the upstream's latest
materialisation metadata (``path``, ``mlflow_run_id``, ``version``), so a step can be
re-run alone.
"""

import base64
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from signal_pipeline.defs.resources import MlflowResource, WarehouseResource
from signal_pipeline.settings import get_settings

GROUP = "trained_models"
MEMBERS = ("xgboost", "random_forest", "lstm")
FEATURE_TABLE = dg.AssetKey("feature_table")
RAW_BARS = dg.AssetKey("raw_bars")
ORACLE_TABLE = "simulator_oracle"


class TrainingSetConfig(dg.Config):
    """Overrides of the ``training`` section of models.yaml (None = the file's value)."""

    sample_every: int | None = None


class TuningConfig(dg.Config):
    """Per run: trials and time budget of the Optuna study (None = models.yaml)."""

    n_trials: int | None = None
    timeout_s: float | None = None


# ----------------------------------------------------------------------------- helpers
def models_home() -> Path:
    return get_settings().home / "models"


def upstream_metadata(context: Any, key: str) -> dict[str, Any]:
    """The latest materialisation metadata of asset ``key`` (values unwrapped)."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(key))
    if event is None or event.asset_materialization is None:
        raise dg.Failure(f"asset {key!r} has never been materialised: materialise it first.")
    return {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}


def png_markdown(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG inlined in a markdown metadata value (shown as an image in the Dagster UI)."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def metrics_table(rows: dict[str, dict[str, Any]], keys: tuple[str, ...]) -> dg.MetadataValue:
    frame = pd.DataFrame(
        {name: {k: values.get(k) for k in keys} for name, values in rows.items()}
    ).T
    return dg.MetadataValue.md(frame.to_markdown(floatfmt=".4f"))


def _read_training_set(warehouse: WarehouseResource) -> tuple[pd.DataFrame, str]:
    from signal_pipeline.models.training_set import frame_hash

    frame = warehouse.warehouse().read("training_set")
    return frame, frame_hash(frame)


def _tags(context: Any, data_hash: str, spec_hash: str) -> Any:
    from signal_pipeline.registry.tracking import TrainingTags, code_version

    return TrainingTags(
        dagster_run_id=context.run.run_id,
        training_data_hash=data_hash,
        feature_spec_hash=spec_hash,
        code_version=code_version(),
    )


# ----------------------------------------------------------------------------- assets
@dg.asset(
    deps=[FEATURE_TABLE, RAW_BARS],
    group_name=GROUP,
    kinds={"parquet", "duckdb"},
    description="Sampled decision points of the feature table joined to triple-barrier labels.",
)
def training_set(
    context: dg.AssetExecutionContext, config: TrainingSetConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from signal_pipeline.models.training_set import (
        build_training_set,
        frame_hash,
        select_feature_columns,
        training_config,
    )

    overrides = {"training": {"sample_every": config.sample_every}} if config.sample_every else {}
    cfg = training_config(overrides)
    store = warehouse.warehouse()
    with store.connect(["feature_table"]) as con:
        all_columns = [row[0] for row in con.execute("DESCRIBE feature_table").fetchall()]
    columns = select_feature_columns(
        all_columns, cfg["training"].get("feature_include"), cfg["training"].get("feature_exclude")
    )
    extra = ["feature_spec_hash"] if "feature_spec_hash" in all_columns else []
    features = store.read("feature_table", columns=["symbol", "ts", *columns, *extra])
    bars = store.read("raw_bars", columns=["symbol", "ts", "close"])
    frame = build_training_set(features, bars, config=cfg)
    spec_hash = frame.attrs.get("feature_spec_hash") or _feature_spec_hash(context)
    store.write_table("training_set", frame)
    stored = store.read("training_set")
    counts = stored["label"].value_counts().reindex([0, 1, 2], fill_value=0)
    feature_event = context.instance.get_latest_materialization_event(FEATURE_TABLE)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(stored),
            "rows_before_sampling": int(frame.attrs.get("rows_before_sampling", len(features))),
            "sample_every_minutes": int(cfg["training"].get("sample_every", 1)),
            "n_features": len(columns),
            "symbols": int(stored["symbol"].nunique()),
            "class_counts": dg.MetadataValue.json(
                {"SELL": int(counts[0]), "HOLD": int(counts[1]), "BUY": int(counts[2])}
            ),
            "training_data_hash": frame_hash(stored),
            "feature_spec_hash": spec_hash or "unknown",
            "feature_table_run_id": feature_event.run_id if feature_event else "unknown",
            "path": dg.MetadataValue.path(str(store.table_path("training_set"))),
            "features": dg.MetadataValue.json(columns),
        }
    )


def _feature_spec_hash(context: Any) -> str | None:
    """From the feature table's materialisation metadata, else the current spec."""
    event = context.instance.get_latest_materialization_event(FEATURE_TABLE)
    if event is not None and event.asset_materialization is not None:
        value = event.asset_materialization.metadata.get("feature_spec_hash")
        if value is not None:
            return str(getattr(value, "value", value))
    try:
        from signal_pipeline.features import load_feature_spec

        return load_feature_spec().version_hash
    except Exception:  # the spec is optional for training on a given table
        return None


def _member_asset(member: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{member}_model",
        deps=[training_set],
        group_name=GROUP,
        kinds={"optuna", "mlflow"},
        description=f"Optuna-tuned hyper-parameters of the {member} member (purged CV, OOF log loss).",
    )
    def _tuned(
        context: dg.AssetExecutionContext,
        config: TuningConfig,
        warehouse: WarehouseResource,
        mlflow: MlflowResource,
    ) -> dg.MaterializeResult:
        from signal_pipeline.models.evaluation import classification_metrics, reliability_plot
        from signal_pipeline.models.training_set import split_training_set, training_config
        from signal_pipeline.models.tuning import tune_member
        from signal_pipeline.registry.tracking import configure_tracking, log_tuning_run, run_link

        frame, data_hash = _read_training_set(warehouse)
        features, labels = split_training_set(frame)
        result = tune_member(
            member,
            features,
            labels,
            config=training_config(),
            n_trials=config.n_trials,
            timeout_s=config.timeout_s,
            storage=get_settings().optuna_storage,
            study_name=f"signal-{member}-{data_hash[:12]}",
        )
        summary = result.as_dict()
        target = models_home() / "tuning" / f"{member}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            json.dumps({**summary, "training_data_hash": data_hash}, indent=2, default=str)
        )
        configure_tracking(mlflow.resolved_tracking_uri())
        spec_hash = str(upstream_metadata(context, "training_set").get("feature_spec_hash"))
        run_id = log_tuning_run(summary, _tags(context, data_hash, spec_hash))
        metadata: dict[str, Any] = {
            "default_oof_log_loss": result.default_log_loss,
            "tuned_oof_log_loss": result.tuned_log_loss,
            "improvement_pct": 100 * result.improvement,
            "trials": result.n_trials,
            "pruned": result.n_pruned,
            "seconds": round(result.seconds, 1),
            "best_params": dg.MetadataValue.json(result.best_params),
            "study": result.study_name,
            "path": dg.MetadataValue.path(str(target)),
            "mlflow_run_id": run_id,
            "mlflow_run": dg.MetadataValue.url(run_link(run_id)),
        }
        if result.best_oof is not None:
            proba = result.best_oof[["p_sell", "p_hold", "p_buy"]].to_numpy()
            y = result.best_oof["label"].to_numpy()
            m = classification_metrics(proba, y)
            metadata["metrics"] = metrics_table(
                {f"{member} (best trial, OOF)": m},
                ("accuracy", "log_loss", "ece", "balanced_accuracy"),
            )
            metadata["reliability"] = png_markdown(reliability_plot(proba, y), "reliability")
        return dg.MaterializeResult(metadata=metadata)

    return _tuned


xgboost_model = _member_asset("xgboost")
random_forest_model = _member_asset("random_forest")
lstm_model = _member_asset("lstm")


@dg.asset(
    deps=[training_set, xgboost_model, random_forest_model, lstm_model],
    group_name=GROUP,
    kinds={"xgboost", "scikitlearn", "pytorch", "mlflow"},
    description="Calibrated soft-voting ensemble with the tuned member parameters.",
)
def ensemble_model(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource
) -> dg.MaterializeResult:
    from signal_pipeline.models import train_ensemble
    from signal_pipeline.models.evaluation import reliability_plot
    from signal_pipeline.models.training_set import split_training_set, training_config
    from signal_pipeline.models.tuning import tuned_overrides
    from signal_pipeline.registry.tracking import configure_tracking, log_training_run, run_link

    frame, data_hash = _read_training_set(warehouse)
    features, labels = split_training_set(frame)
    tuned = {}
    for member in MEMBERS:
        path = Path(str(upstream_metadata(context, f"{member}_model")["path"]))
        tuned[member] = json.loads(path.read_text())
    store = warehouse.warehouse()
    oracle = store.read(ORACLE_TABLE) if ORACLE_TABLE in store.tables() else None
    trained = train_ensemble(
        features,
        labels,
        config=training_config(tuned_overrides(tuned)),
        oracle=oracle,
        leakage_check=True,
        progress=False,
    )
    folder = trained.save(models_home() / context.run.run_id / "ensemble")
    configure_tracking(mlflow.resolved_tracking_uri())
    spec_hash = str(upstream_metadata(context, "training_set").get("feature_spec_hash"))
    tags = _tags(context, data_hash, spec_hash)
    run_id = log_training_run(trained, tags, tuning=tuned)
    from mlflow import MlflowClient

    feature_run = upstream_metadata(context, "training_set").get("feature_table_run_id", "unknown")
    MlflowClient().set_tag(run_id, "feature_table_run_id", str(feature_run))
    m = trained.metrics
    rows = {"ensemble (OOF)": m["ensemble"], **{f"{k} (OOF)": v for k, v in m["members"].items()}}
    rows.update({f"baseline: {k}": v for k, v in m["baselines"].items()})
    oof = trained.oof
    y = oof["label"].to_numpy()
    metadata: dict[str, Any] = {
        "oof_accuracy": m["ensemble"]["accuracy"],
        "oof_log_loss": m["ensemble"]["log_loss"],
        "oof_ece": m["ensemble"]["ece"],
        "holdout_ece_calibrated": (m.get("calibration_holdout") or {}).get(
            "ece_calibrated", np.nan
        ),
        "leakage_alarm_passed": bool(m["shuffled_label_alarm"]["passed"]),
        "metrics": metrics_table(rows, ("accuracy", "balanced_accuracy", "log_loss", "ece")),
        "reliability": png_markdown(
            reliability_plot(oof[["p_sell", "p_hold", "p_buy"]].to_numpy(), y), "reliability"
        ),
        "path": dg.MetadataValue.path(str(folder)),
        "training_data_hash": data_hash,
        "feature_spec_hash": spec_hash,
        "mlflow_run_id": run_id,
        "mlflow_run": dg.MetadataValue.url(run_link(run_id)),
    }
    if "oracle" in m:
        metadata["oracle"] = dg.MetadataValue.json(m["oracle"])
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    deps=[ensemble_model],
    group_name=GROUP,
    kinds={"mlflow"},
    description="Evaluation of the ensemble: metrics, calibration, leakage alarm, feature importance.",
)
def model_evaluation(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource
) -> dg.MaterializeResult:
    from signal_pipeline.models import TrainedEnsemble
    from signal_pipeline.models.evaluation import reliability_plot
    from signal_pipeline.models.importance import (
        importance_plot,
        model_importance,
        permutation_importance,
    )
    from signal_pipeline.models.training_set import split_training_set
    from signal_pipeline.registry.tracking import configure_tracking, log_importance, run_link

    upstream = upstream_metadata(context, "ensemble_model")
    folder = Path(str(upstream["path"]))
    trained = TrainedEnsemble.load(folder)
    frame, _ = _read_training_set(warehouse)
    features, labels = split_training_set(frame)
    members = [
        m
        for m in trained.config.get("importance", {}).get("members", [])
        if m in trained.ensemble.members
    ]
    table = pd.concat(
        [
            model_importance(trained),
            permutation_importance(features, labels, members=members, config=trained.config),
        ],
        ignore_index=True,
    )
    top = int(trained.config.get("importance", {}).get("top", 25))
    plot = importance_plot(table, top=top)
    table.to_parquet(folder.parent / "importance.parquet", index=False)
    (folder.parent / "importance.png").write_bytes(plot)
    configure_tracking(mlflow.resolved_tracking_uri())
    run_id = str(upstream["mlflow_run_id"])
    log_importance(run_id, table, plot)
    m = trained.metrics
    y = trained.oof["label"].to_numpy()
    calibrated = trained.oof[["cal_p_sell", "cal_p_hold", "cal_p_buy"]].to_numpy()
    head = table.groupby(["member", "kind"]).head(10)
    return dg.MaterializeResult(
        metadata={
            "metrics": metrics_table(
                {"ensemble (OOF)": m["ensemble"], **m["members"]},
                ("accuracy", "log_loss", "ece", "high_conf_share", "high_conf_accuracy"),
            ),
            "calibration_holdout": dg.MetadataValue.json(m.get("calibration_holdout") or {}),
            "shuffled_label_alarm": dg.MetadataValue.json(m.get("shuffled_label_alarm") or {}),
            "reliability_calibrated": png_markdown(
                reliability_plot(calibrated, y, title="OOF, calibrated (in-sample)"), "reliability"
            ),
            "importance_top10": dg.MetadataValue.md(head.to_markdown(index=False, floatfmt=".4g")),
            "importance_plot": png_markdown(plot, "feature importance"),
            "importance_path": dg.MetadataValue.path(str(folder.parent / "importance.parquet")),
            "mlflow_run_id": run_id,
            "mlflow_run": dg.MetadataValue.url(run_link(run_id)),
        }
    )


@dg.asset(
    deps=[model_evaluation],
    group_name=GROUP,
    kinds={"mlflow"},
    description="The ensemble logged as one MLflow pyfunc model, registered as a new version "
    "of 'signal-ensemble' with the alias 'challenger'.",
)
def registered_model(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource
) -> dg.MaterializeResult:
    from signal_pipeline.models import TrainedEnsemble
    from signal_pipeline.models.training_set import split_training_set
    from signal_pipeline.registry.aliases import CHALLENGER, MODEL_NAME, register_version, set_alias
    from signal_pipeline.registry.promotion import GateFigures
    from signal_pipeline.registry.pyfunc import input_example, log_ensemble_model
    from signal_pipeline.registry.tracking import configure_tracking, finish_run, run_link

    upstream = upstream_metadata(context, "ensemble_model")
    folder = Path(str(upstream["path"]))
    run_id = str(upstream["mlflow_run_id"])
    trained = TrainedEnsemble.load(folder)
    frame, data_hash = _read_training_set(warehouse)
    features, _ = split_training_set(frame)
    configure_tracking(mlflow.resolved_tracking_uri())
    info = log_ensemble_model(folder, input_example(features, trained.feature_names), run_id=run_id)
    gates = GateFigures.from_metrics(trained.metrics)
    tags = {
        "dagster_run_id": context.run.run_id,
        "training_data_hash": upstream.get("training_data_hash", data_hash),
        "feature_spec_hash": upstream.get("feature_spec_hash", "unknown"),
        "code_version": _tags(context, data_hash, "").code_version,
        "mlflow_run_id": run_id,
        **gates.as_tags(),
    }
    serving_files = _log_serving_files(run_id, features, trained, tags["feature_spec_hash"])
    version = register_version(info.model_uri, tags, run_id=run_id)
    set_alias(
        version.version,
        CHALLENGER,
        f"newest version, registered by Dagster run {context.run.run_id}",
    )
    finish_run(run_id)
    return dg.MaterializeResult(
        metadata={
            "model_name": MODEL_NAME,
            "version": str(version.version),
            "model_uri": f"models:/{MODEL_NAME}/{version.version}",
            "oof_log_loss": gates.oof_log_loss if gates.oof_log_loss is not None else np.nan,
            "holdout_ece": gates.holdout_ece if gates.holdout_ece is not None else np.nan,
            "leakage_alarm_passed": bool(gates.leakage_alarm_passed),
            "mlflow_run_id": run_id,
            "mlflow_run": dg.MetadataValue.url(run_link(run_id)),
            "serving_files": ", ".join(serving_files) or "none",
        }
    )


def _log_serving_files(
    run_id: str, features: pd.DataFrame, trained: Any, spec_hash: str
) -> list[str]:
    """What the signal service reads beside the model, logged to the training run: the
    training features' drift reference (PSI/KS at /metrics) and the feature spec file,
    when the packaged spec is the one the features were built with (its hash matches)."""
    from mlflow import MlflowClient

    from signal_pipeline.features import load_feature_spec
    from signal_pipeline.features.spec import DEFAULT_SPEC_PATH
    from signal_pipeline.inference.drift import DriftReference
    from signal_pipeline.inference.loading import DRIFT_REFERENCE_FILE, FEATURE_SPEC_FILE

    client, logged = MlflowClient(), []
    with tempfile.TemporaryDirectory() as tmp:
        reference = DriftReference.from_features(features, list(trained.feature_names))
        client.log_artifact(run_id, str(reference.save(Path(tmp) / DRIFT_REFERENCE_FILE)))
        logged.append(DRIFT_REFERENCE_FILE)
        if load_feature_spec().version_hash == spec_hash:
            spec_file = Path(tmp) / FEATURE_SPEC_FILE
            shutil.copyfile(DEFAULT_SPEC_PATH, spec_file)
            client.log_artifact(run_id, str(spec_file))
            logged.append(FEATURE_SPEC_FILE)
    return logged
